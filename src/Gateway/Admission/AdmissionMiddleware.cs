using Gateway.Hosting;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Admission;

/// <summary>
/// First step of the proxy pipeline, after routing and before anything reaches a backend: checks a WebSocket
/// upgrade against the route's origin allow-list and <see cref="AdmissionController"/>, and holds the
/// admission until the session ends. Requests that are not upgrades pass untouched; a switch to any other protocol is refused with 400.
/// </summary>
/// <remarks>
/// Kestrel's own <c>MaxConcurrentUpgradedConnections</c> is no substitute: it is checked when the upgrade
/// completes, after the backend has already been asked and has answered 101.
/// </remarks>
internal sealed partial class AdmissionMiddleware
{
    private readonly RequestDelegate _next;
    private readonly AdmissionController _controller;
    private readonly UpgradeRejection _rejection;
    private readonly ReadinessState _readiness;
    private readonly ILogger<AdmissionMiddleware> _logger;

    public AdmissionMiddleware(RequestDelegate next, AdmissionController controller, UpgradeRejection rejection, ReadinessState readiness, ILogger<AdmissionMiddleware> logger)
    {
        _next = next;
        _controller = controller;
        _rejection = rejection;
        _readiness = readiness;
        _logger = logger;
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (!WebSocketRequest.IsWebSocket(context))
        {
            return WebSocketRequest.IsOtherUpgrade(context) ? RefuseProtocolAsync(context) : _next(context);
        }

        var route = context.GetReverseProxyFeature().Route.Config;
        var policy = RouteAdmissionPolicy.For(route);
        if (policy.Origins is { } origins
            && context.Request.Headers.Origin is { Count: > 0 } origin
            && !origins.IsAllowed(origin.ToString()))
        {
            _controller.RejectOrigin(route.RouteId);
            UpgradeTracing.Admission(context, route.RouteId, route.ClusterId, admitted: false);
            Log.OriginRejected(_logger, origin.ToString(), route.RouteId, context.Connection.RemoteIpAddress);
            // A hijacking page must not get a socket, so never the browser-facing accept-then-close here.
            return _rejection.RejectAsync(context, AdmissionRejection.Origin, StatusCodes.Status403Forbidden, TimeSpan.Zero, "Origin not allowed.", closeInstead: false, TimeSpan.Zero);
        }

        if (_readiness.IsShuttingDown)
        {
            // The load balancer has not noticed the failing readiness yet: send the client elsewhere (an HTTP/1.1
            // refusal closes its connection anyway).
            var draining = _controller.RejectDraining(route.RouteId);
            UpgradeTracing.Admission(context, route.RouteId, route.ClusterId, admitted: false);
            Log.Draining(_logger, context.Connection.RemoteIpAddress, route.RouteId);
            return _rejection.RejectAsync(context, draining.Rejection, draining.StatusCode, draining.RetryAfter, MessageFor(draining.Rejection, draining.RetryAfterSeconds), policy.BrowserFacing, _controller.RejectionCloseTimeout);
        }

        if (!_controller.Enabled)
        {
            UpgradeTracing.Admission(context, route.RouteId, route.ClusterId, admitted: true);
            return _next(context);
        }

        var client = _controller.ResolveClient(context);
        var decision = _controller.TryAdmit(client, policy.Priority, route.RouteId, out var ticket);
        UpgradeTracing.Admission(context, route.RouteId, route.ClusterId, decision.Admitted);
        if (!decision.Admitted)
        {
            var reason = AdmissionController.TagOf(decision.Rejection);
            Log.Rejected(_logger, client, route.RouteId, reason, decision.StatusCode, decision.RetryAfterSeconds);
            return _rejection.RejectAsync(
                context,
                decision.Rejection,
                decision.StatusCode,
                decision.RetryAfter,
                MessageFor(decision.Rejection, decision.RetryAfterSeconds),
                policy.BrowserFacing,
                _controller.RejectionCloseTimeout);
        }

        return HoldAsync(context, ticket!);
    }

    /// <summary>
    /// A switch to another protocol: 400 whatever the admission settings, counted and summarised like every refusal
    /// (one Debug line each, the periodic Warning summary), so a client repeating it cannot flood the log.
    /// </summary>
    private Task RefuseProtocolAsync(HttpContext context)
    {
        var config = context.GetReverseProxyFeature().Route.Config;
        var route = config.RouteId;
        _controller.RejectProtocol(route);
        UpgradeTracing.Admission(context, route, config.ClusterId, admitted: false);
        var connect = context.Features.Get<IHttpExtendedConnectFeature>();
        var http2 = connect is { IsExtendedConnect: true };
        var asked = http2 ? connect!.Protocol ?? "" : context.Request.Headers.Upgrade.ToString();
        Log.ProtocolRejected(_logger, Truncate(asked), route, context.Connection.RemoteIpAddress);
        var message = http2
            ? "Only WebSocket is relayed here: the extended CONNECT's :protocol must be websocket."
            : "Only WebSocket is relayed here: the Upgrade header must list websocket.";
        return _rejection.RejectAsync(context, AdmissionRejection.UnsupportedProtocol, StatusCodes.Status400BadRequest, TimeSpan.Zero, message, closeInstead: false, TimeSpan.Zero);
    }

    /// <summary>What a client put in a header, bounded for a log line.</summary>
    private static string Truncate(string value) => value.Length <= 64 ? value : string.Concat(value.AsSpan(0, 64), "…");

    private async Task HoldAsync(HttpContext context, AdmissionTicket ticket)
    {
        context.Features.Set<IClientAddressFeature>(ticket);
        try
        {
            await _next(context);
        }
        finally
        {
            if (context.Features.Get<ISessionUpgradeFeature>() is { OutlivesRequest: true } lifetime)
            {
                // The session has left the request (the lean path): it keeps its slot until it ends.
                lifetime.OnEnded(ticket);
            }
            else
            {
                _controller.Release(ticket);
            }
        }
    }

    private static string MessageFor(AdmissionRejection rejection, int retryAfterSeconds) => rejection switch
    {
        AdmissionRejection.ClientSessions => $"Too many open sessions from this client; retry after {retryAfterSeconds} s.",
        AdmissionRejection.RateClient => $"Too many new sessions from this client; retry after {retryAfterSeconds} s.",
        AdmissionRejection.Draining => "This gateway instance is shutting down; reconnect to take another.",
        _ => $"The gateway is not accepting new sessions at the moment; retry after {retryAfterSeconds} s.",
    };

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Upgrade from {ClientAddress} on route {RouteId} rejected ({Reason}): {StatusCode}, retry after {RetryAfterSeconds} s.", EventName = "AdmissionRejected")]
        public static partial void Rejected(ILogger logger, System.Net.IPAddress clientAddress, string routeId, string reason, int statusCode, int retryAfterSeconds);

        [LoggerMessage(2, LogLevel.Debug, "Upgrade with Origin '{Origin}' on route {RouteId} from {PeerAddress} refused (403): not in the route's allowed origins.", EventName = "OriginRejected")]
        public static partial void OriginRejected(ILogger logger, string origin, string routeId, System.Net.IPAddress? peerAddress);

        [LoggerMessage(3, LogLevel.Debug, "Upgrade from {PeerAddress} on route {RouteId} refused (503): the gateway is draining.", EventName = "DrainingRejected")]
        public static partial void Draining(ILogger logger, System.Net.IPAddress? peerAddress, string routeId);

        [LoggerMessage(4, LogLevel.Debug, "Upgrade to '{Protocol}' on route {RouteId} from {PeerAddress} refused (400): only WebSocket is relayed.", EventName = "ProtocolRejected")]
        public static partial void ProtocolRejected(ILogger logger, string protocol, string routeId, System.Net.IPAddress? peerAddress);
    }
}
