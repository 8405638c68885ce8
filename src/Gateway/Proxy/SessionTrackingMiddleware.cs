using Gateway.Relay;
using Gateway.Sessions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxy;

/// <summary>
/// First step of the proxy pipeline: for a WebSocket request, replaces Kestrel's upgrade feature (HTTP/1.1)
/// or extended-CONNECT feature (HTTP/2) with a wrapper whose stream is a <see cref="SessionStream"/>, and
/// closes the session in the registry once YARP's relay has finished, whichever way it ended. A session that took
/// the lean path has left the request by then: its connection closes it (<see cref="LeanSession"/>).
/// </summary>
internal sealed class SessionTrackingMiddleware
{
    private readonly RequestDelegate _next;
    private readonly SessionRegistry _registry;
    private readonly ProxySessionPolicy _policy;
    private readonly WebSocketSessionOptions _options;

    public SessionTrackingMiddleware(RequestDelegate next, SessionRegistry registry, ProxySessionPolicy policy, IOptions<WebSocketSessionOptions> options)
    {
        _next = next;
        _registry = registry;
        _policy = policy;
        _options = options.Value;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var routeId = context.GetReverseProxyFeature().Route.Config.RouteId;

        if (WebSocketRequest.IsHttp11Upgrade(context, out var upgradeFeature))
        {
            if (!WebSocketRequest.IsOnlyWebSocket(context.Request.Headers.Upgrade))
            {
                // "Upgrade: SPDY/3.1, websocket": the backend is asked for the one protocol the session relays.
                context.Request.Headers.Upgrade = WebSocketRequest.Protocol;
            }

            // The lean path needs the connection middleware (the public listener's HTTP/1.1 connections have it).
            var lean = _options.LeanPath ? context.Features.Get<LeanConnection>() : null;
            var upgrade = new SessionUpgrade(_registry, context, routeId, _policy, SessionProtocol.Http11Upgrade, lean, _options.RelayBufferSize);
            return RelayAsync<IHttpUpgradeFeature>(context, upgrade, new SessionUpgradeFeature(upgradeFeature, upgrade), upgradeFeature);
        }

        if (WebSocketRequest.IsHttp2ExtendedConnect(context, out var connectFeature))
        {
            var upgrade = new SessionUpgrade(_registry, context, routeId, _policy, SessionProtocol.Http2ExtendedConnect);
            return RelayAsync<IHttpExtendedConnectFeature>(context, upgrade, new SessionConnectFeature(connectFeature, upgrade), connectFeature);
        }

        return _next(context);
    }

    private async Task RelayAsync<TFeature>(HttpContext context, SessionUpgrade upgrade, TFeature wrapper, TFeature original)
        where TFeature : class
    {
        context.Features.Set(wrapper);
        context.Features.Set(upgrade);
        context.Features.Set<ISessionUpgradeFeature>(upgrade);
        try
        {
            await _next(context);
            await upgrade.Lingering;
        }
        finally
        {
            context.Features.Set(original);
            if (upgrade.Session is { } session && upgrade.Lean is null)
            {
                var error = context.Features.Get<IForwarderErrorFeature>();
                _registry.Close(session, upgrade.JudgeEnd(session), upgrade.RefusalReason ?? Describe(error));
            }
        }
    }

    private static string? Describe(IForwarderErrorFeature? error)
        => error is null ? null : error.Exception is { } exception ? $"{error.Error}: {exception.Message}" : error.Error.ToString();
}
