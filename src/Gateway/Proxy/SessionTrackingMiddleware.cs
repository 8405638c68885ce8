using Gateway.Sessions;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxy;

/// <summary>
/// First step of the proxy pipeline: for a WebSocket request, replaces Kestrel's upgrade feature (HTTP/1.1)
/// or extended-CONNECT feature (HTTP/2) with a wrapper whose stream is a <see cref="SessionStream"/>, and
/// closes the session in the registry once YARP's relay has finished, whichever way it ended.
/// </summary>
internal sealed class SessionTrackingMiddleware
{
    private readonly RequestDelegate _next;
    private readonly SessionRegistry _registry;
    private readonly ProxySessionPolicy _policy;

    public SessionTrackingMiddleware(RequestDelegate next, SessionRegistry registry, ProxySessionPolicy policy)
    {
        _next = next;
        _registry = registry;
        _policy = policy;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var routeId = context.GetReverseProxyFeature().Route.Config.RouteId;

        if (WebSocketRequest.IsHttp11Upgrade(context, out var upgradeFeature))
        {
            var upgrade = new SessionUpgrade(_registry, context, routeId, _policy, SessionProtocol.Http11Upgrade);
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
        try
        {
            await _next(context);
            await upgrade.Lingering;
        }
        finally
        {
            context.Features.Set(original);
            if (upgrade.Session is { } session)
            {
                var error = context.Features.Get<IForwarderErrorFeature>();
                _registry.Close(session, upgrade.JudgeEnd(session), upgrade.RefusalReason ?? Describe(error));
            }
        }
    }

    private static string? Describe(IForwarderErrorFeature? error)
        => error is null ? null : error.Exception is { } exception ? $"{error.Error}: {exception.Message}" : error.Error.ToString();
}
