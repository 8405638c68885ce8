using Gateway.Resilience;
using Gateway.Sessions;
using Microsoft.AspNetCore.Http.Timeouts;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxy;

/// <summary>
/// Logs every failed forward exactly once, with the route, cluster and destination (YARP's own line has none
/// of them and is filtered to errors by default), and answers 504 when the request timeout fired.
/// </summary>
/// <remarks>
/// YARP 2.1 sees the request-timeout token as "client aborted" and sets 400; the client did not abort, the
/// backend was too slow, so the answer is 504 as nginx and Envoy give. Failures after a WebSocket session
/// started are part of the session's close record instead (<see cref="SessionRegistry.Close"/>).
/// </remarks>
internal sealed partial class ProxyErrorMiddleware
{
    private readonly RequestDelegate _next;
    private readonly ILogger<ProxyErrorMiddleware> _logger;

    public ProxyErrorMiddleware(RequestDelegate next, ILogger<ProxyErrorMiddleware> logger)
    {
        _next = next;
        _logger = logger;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        await _next(context);

        if (context.Features.Get<IForwarderErrorFeature>() is not { } error
            || context.Features.Get<SessionUpgrade>()?.Session is not null)
        {
            return;
        }

        var timedOut = context.Features.Get<IHttpRequestTimeoutFeature>()?.RequestTimeoutToken.IsCancellationRequested == true;
        if (timedOut && !context.Response.HasStarted)
        {
            context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
        }

        // The breaker's handshake timeout cancels the forward through the request's abort token, which YARP
        // reports as the client leaving; the answer (504) was already set by BreakerMiddleware.
        var handshakeTimedOut = context.Features.Get<ResilienceFeature>()?.Failure == BackendFailure.HandshakeTimeout;
        var proxy = context.GetReverseProxyFeature();
        var destination = proxy.ProxiedDestination;
        var level = timedOut || handshakeTimedOut || !IsClientCaused(error.Error) ? LogLevel.Warning : LogLevel.Information;
        Log.ForwardFailed(
            _logger,
            level,
            context.Request.Method,
            context.Request.Path,
            proxy.Route.Config.RouteId,
            proxy.Cluster?.Config.ClusterId,
            destination?.DestinationId,
            destination?.Model.Config.Address,
            timedOut ? "RequestTimedOut" : handshakeTimedOut ? "HandshakeTimedOut" : error.Error.ToString(),
            context.Response.StatusCode,
            error.Exception?.Message,
            error.Exception);
    }

    private static bool IsClientCaused(ForwarderError error) => error is ForwarderError.RequestCanceled
        or ForwarderError.RequestBodyCanceled
        or ForwarderError.RequestBodyClient
        or ForwarderError.ResponseBodyClient
        or ForwarderError.ResponseBodyCanceled
        or ForwarderError.UpgradeResponseClient;

    private static partial class Log
    {
        [LoggerMessage(EventId = 10, EventName = "ForwardFailed", Message = "{Method} {Path}: forwarding on route {RouteId} (cluster {ClusterId}) to destination {DestinationId} at {DestinationAddress} failed with {Error}; answered {StatusCode}. {Message}")]
        public static partial void ForwardFailed(ILogger logger, LogLevel level, string method, PathString path, string routeId, string? clusterId, string? destinationId, string? destinationAddress, string error, int statusCode, string? message, Exception? exception);
    }
}
