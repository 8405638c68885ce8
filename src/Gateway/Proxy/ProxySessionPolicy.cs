using Gateway.Frames;
using Gateway.Relay;
using Gateway.Resilience;
using Gateway.Sessions;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Gateway.Proxy;

/// <summary>
/// How the proxy judges a session's end, and what the client is told when the backend side ended without a
/// close handshake: a close frame instead of a silent reset (which browsers report as 1006 and nothing else).
/// </summary>
/// <remarks>
/// The frame goes out only at a frame boundary of the backend-to-client stream: cut inside a frame, the stream
/// is already broken and a close frame would only be read as payload.
/// </remarks>
internal sealed class ProxySessionPolicy : ISessionRelayPolicy
{
    private readonly IProxyStateLookup _proxyState;
    private readonly RouteSessionPolicies _policies;

    public ProxySessionPolicy(IProxyStateLookup proxyState, RouteSessionPolicies policies)
    {
        _proxyState = proxyState;
        _policies = policies;
    }

    public SessionTarget TargetOf(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var cluster = proxy.Cluster?.Config;
        return new SessionTarget(
            cluster?.ClusterId ?? "",
            proxy.ProxiedDestination?.DestinationId,
            context.Features.Get<ResilienceFeature>()?.Degraded == true,
            _policies.For(proxy.Route.Config, cluster),
            proxy.ProxiedDestination?.Model.Config.Address);
    }

    public SessionCloseReason ReasonFor(Session session, RelayFault fault) => Judge(session, fault);

    /// <summary>
    /// A close frame decides; without one, whichever transport ended first. A failed client read or write, or the
    /// client's abort, is the client's; the client's end of stream is seen by the session stream itself; everything
    /// else (the backend's end of stream, reset, failed read or write) is the backend's.
    /// </summary>
    internal static SessionCloseReason Judge(Session session, RelayFault fault)
    {
        if (session.GatewayCloseReason is { } gatewayReason)
        {
            return gatewayReason;
        }

        if (fault == RelayFault.ActivityTimeout)
        {
            return SessionCloseReason.IdleTimeout;
        }

        return session.CloseInitiator switch
        {
            SessionSide.Client => SessionCloseReason.ClientClose,
            SessionSide.Backend => SessionCloseReason.BackendClose,
            _ when session.ClientGone => SessionCloseReason.ClientLost,
            _ when fault is RelayFault.ClientRead or RelayFault.ClientWrite => SessionCloseReason.ClientLost,
            _ => SessionCloseReason.BackendLost,
        };
    }

    public ReadOnlyMemory<byte> FarewellFor(Session session, SessionCloseReason reason, bool atFrameBoundary)
    {
        if (session.ClientGone || !atFrameBoundary || session.BackendCloseStatus is not null)
        {
            // The client is gone, the stream to it was cut inside a frame, or it already has the backend's close.
            return ReadOnlyMemory<byte>.Empty;
        }

        if (session.GatewayEnd is { } end)
        {
            // Told the backend first (a drain), which ended without answering: the client gets the gateway's own
            // close. Every other close of the gateway's has already told the client.
            return end.Order is SessionCloseOrder.BackendFirst or SessionCloseOrder.BackendFirstThenClient ? end.ClientFrame : ReadOnlyMemory<byte>.Empty;
        }

        return reason switch
        {
            SessionCloseReason.BackendLost => (IsGoingAway(session) ? SessionEnds.BackendRestarting : SessionEnds.BackendLost).ClientFrame,
            // YARP's activity timeout (the heartbeat off) ended the relay.
            SessionCloseReason.IdleTimeout => SessionEnds.IdleTimeout.ClientFrame,
            // The client said goodbye and the backend vanished instead of answering: answer for it.
            SessionCloseReason.ClientClose => CloseFrame.ForClient(
                session.ClientCloseStatus is { } status && CloseFrame.IsSendable(status) ? status : null,
                ""),
            _ => ReadOnlyMemory<byte>.Empty,
        };
    }

    /// <summary>
    /// The destination is being taken away rather than failing: it left the cluster's configuration (a scale
    /// down or a rollout, through service discovery or a reload) or its active health check reports it unhealthy
    /// (a pod failing readiness while it terminates).
    /// </summary>
    private bool IsGoingAway(Session session)
    {
        if (session.DestinationId is not { } destinationId || !_proxyState.TryGetCluster(session.ClusterId, out var cluster))
        {
            return session.DestinationId is not null;
        }

        return !cluster.Destinations.TryGetValue(destinationId, out var destination)
            || destination.Health.Active == DestinationHealth.Unhealthy
            || (session.DestinationAddress is { } address && destination.Model is { } model && !string.Equals(model.Config.Address, address, StringComparison.OrdinalIgnoreCase));
    }
}
