using Gateway.Sessions;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Gateway.Proxy;

/// <summary>
/// First step of the proxy pipeline: for a WebSocket request, replaces Kestrel's upgrade feature (HTTP/1.1)
/// or extended-CONNECT feature (HTTP/2) with a wrapper whose stream is a <see cref="SessionStream"/>, and
/// closes the session in the registry once YARP's relay has finished, whichever way it ended.
/// </summary>
internal sealed class SessionTrackingMiddleware
{
    private static readonly Func<HttpContext, string?> DestinationOf =
        static context => context.Features.Get<IReverseProxyFeature>()?.ProxiedDestination?.DestinationId;

    private readonly RequestDelegate _next;
    private readonly SessionRegistry _registry;

    public SessionTrackingMiddleware(RequestDelegate next, SessionRegistry registry)
    {
        _next = next;
        _registry = registry;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var routeId = proxy.Route.Config.RouteId;
        var clusterId = proxy.Cluster?.Config.ClusterId ?? "";

        if (WebSocketRequest.IsHttp11Upgrade(context, out var upgradeFeature))
        {
            var upgrade = new SessionUpgrade(_registry, context, routeId, clusterId, DestinationOf, SessionProtocol.Http11Upgrade);
            return RelayAsync<IHttpUpgradeFeature>(context, upgrade, new SessionUpgradeFeature(upgradeFeature, upgrade), upgradeFeature);
        }

        if (WebSocketRequest.IsHttp2ExtendedConnect(context, out var connectFeature))
        {
            var upgrade = new SessionUpgrade(_registry, context, routeId, clusterId, DestinationOf, SessionProtocol.Http2ExtendedConnect);
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
        }
        finally
        {
            context.Features.Set(original);
            if (upgrade.Session is { } session)
            {
                var error = context.Features.Get<IForwarderErrorFeature>();
                _registry.Close(session, ReasonFor(session, error?.Error), Describe(error));
            }
        }
    }

    internal static SessionCloseReason ReasonFor(Session session, ForwarderError? error)
    {
        if (error == ForwarderError.UpgradeActivityTimeout)
        {
            return SessionCloseReason.IdleTimeout;
        }

        return session.CloseInitiator switch
        {
            SessionSide.Client => SessionCloseReason.ClientClose,
            SessionSide.Backend => SessionCloseReason.BackendClose,
            _ => SessionCloseReason.Error,
        };
    }

    private static string? Describe(IForwarderErrorFeature? error)
        => error is null ? null : error.Exception is { } exception ? $"{error.Error}: {exception.Message}" : error.Error.ToString();
}
