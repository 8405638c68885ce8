using Gateway.Resilience;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.AspNetCore.Http.Timeouts;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxy;

/// <summary>
/// Logs a failed forward once, with the route, cluster and destination (YARP's own line has none of them and is
/// filtered to errors by default), and answers 504 when the request timeout fired. A client decides how many requests
/// fail (every request to a backend that is down does), so the lines are budgeted (<see cref="MaxLinesPerSecond"/> a
/// second, <see cref="LogBudget"/>): past it they are counted, and the next line written says how many were left out.
/// </summary>
/// <remarks>
/// YARP (2.1, and 2.3 still: <c>FailureTests.BackendNeverAnswersUpgrade_Answers504AfterRequestTimeout</c> reads 400
/// without this) sees the request-timeout token as "client aborted" and sets 400; the client did not abort, the
/// backend was too slow, so the answer is 504 as nginx and Envoy give. Failures after a WebSocket session
/// started are part of the session's close record instead (<see cref="SessionRegistry.Close"/>).
/// </remarks>
internal sealed partial class ProxyErrorMiddleware
{
    private readonly RequestDelegate _next;
    /// <summary>Failed-forward lines written at most per second; the rest are counted into the next one.</summary>
    public const int MaxLinesPerSecond = 10;

    private readonly ILogger<ProxyErrorMiddleware> _logger;
    private readonly LogBudget _budget;

    public ProxyErrorMiddleware(RequestDelegate next, ILogger<ProxyErrorMiddleware> logger, TimeProvider timeProvider)
    {
        _next = next;
        _logger = logger;
        _budget = new LogBudget(MaxLinesPerSecond, timeProvider);
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
        if (!_logger.IsEnabled(level) || !_budget.TryTake(out var suppressed))
        {
            return;
        }

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
            suppressed,
            MaxLinesPerSecond,
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
        [LoggerMessage(EventId = 10, EventName = "ForwardFailed", Message = "{Method} {Path}: forwarding on route {RouteId} (cluster {ClusterId}) to destination {DestinationId} at {DestinationAddress} failed with {Error}; answered {StatusCode}. {Message} ({Suppressed} failed forwards not logged before this one, over the budget of {Budget} lines a second)")]
        public static partial void ForwardFailed(ILogger logger, LogLevel level, string method, PathString path, string routeId, string? clusterId, string? destinationId, string? destinationAddress, string error, int statusCode, string? message, long suppressed, int budget, Exception? exception);
    }
}
