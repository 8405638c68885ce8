using Gateway.Proxy;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Tests.Resilience;

/// <summary>How a session's end is judged, and what the client is told when the backend vanished.</summary>
public sealed class ProxySessionPolicyTests
{
    [Fact]
    public void Judge_CloseFramesDecide_ThenWhichTransportEnded()
    {
        Assert.Equal(SessionCloseReason.IdleTimeout, ProxySessionPolicy.Judge(New(), ForwarderError.UpgradeActivityTimeout));

        var clientClosed = New();
        clientClosed.OnClientData(WebSocketFrames.Encode(WebSocketOpcode.Close, [0x03, 0xE8], mask: true), 1);
        Assert.Equal(SessionCloseReason.ClientClose, ProxySessionPolicy.Judge(clientClosed, null));

        var backendClosed = New();
        backendClosed.OnBackendData(WebSocketFrames.Encode(WebSocketOpcode.Close, [0x03, 0xE8]), 1);
        Assert.Equal(SessionCloseReason.BackendClose, ProxySessionPolicy.Judge(backendClosed, ForwarderError.UpgradeResponseDestination));

        var clientGone = New();
        clientGone.MarkClientGone();
        Assert.Equal(SessionCloseReason.ClientLost, ProxySessionPolicy.Judge(clientGone, null));
        Assert.Equal(SessionCloseReason.ClientLost, ProxySessionPolicy.Judge(New(), ForwarderError.UpgradeRequestClient));
        Assert.Equal(SessionCloseReason.ClientLost, ProxySessionPolicy.Judge(New(), ForwarderError.UpgradeResponseCanceled));

        // The backend's end of stream (no error reported) or a failed read from it.
        Assert.Equal(SessionCloseReason.BackendLost, ProxySessionPolicy.Judge(New(), null));
        Assert.Equal(SessionCloseReason.BackendLost, ProxySessionPolicy.Judge(New(), ForwarderError.UpgradeResponseDestination));
    }

    [Fact]
    public void BackendLost_AtAFrameBoundary_Gets1011()
    {
        var session = New();
        session.OnBackendData(WebSocketFrames.Encode(WebSocketOpcode.Text, "hi"u8), 1);

        var frame = Policy().FarewellFor(new DefaultHttpContext(), session, SessionCloseReason.BackendLost).ToArray();

        Assert.Equal(CloseFrame.ForClient(1011, "backend connection lost"), frame);
        Assert.Equal([0x88, 25, 0x03, 0xF3], frame[..4]);
    }

    [Fact]
    public void BackendLost_DestinationTakenAway_Gets1012ServiceRestart()
    {
        var state = new ProxyState();
        var session = New();

        // Gone from the cluster's configuration (a scale-down, a rollout).
        state.Cluster.Destinations.Clear();
        Assert.Equal(CloseFrame.ForClient(1012, "service restart"), Policy(state).FarewellFor(new DefaultHttpContext(), session, SessionCloseReason.BackendLost).ToArray());

        // Still configured, but its active health check reports it unhealthy (readiness failing while it stops).
        var destination = new Yarp.ReverseProxy.Model.DestinationState("d1");
        destination.Health.Active = Yarp.ReverseProxy.Model.DestinationHealth.Unhealthy;
        state.Cluster.Destinations["d1"] = destination;
        Assert.Equal(CloseFrame.ForClient(1012, "service restart"), Policy(state).FarewellFor(new DefaultHttpContext(), session, SessionCloseReason.BackendLost).ToArray());
    }

    [Fact]
    public void BackendLost_InsideAFrame_GetsNothing_TheStreamIsAlreadyBroken()
    {
        var session = New();
        var message = WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[100]);
        session.OnBackendData(message.AsSpan(0, 50), 1);

        Assert.True(Policy().FarewellFor(new DefaultHttpContext(), session, SessionCloseReason.BackendLost).IsEmpty);
    }

    [Fact]
    public void ClientClosed_BackendVanished_TheGatewayAnswersTheClose()
    {
        var session = New();
        session.OnClientData(WebSocketFrames.Encode(WebSocketOpcode.Close, [0x0F, 0xA0, (byte)'x'], mask: true), 1);

        var frame = Policy().FarewellFor(new DefaultHttpContext(), session, SessionCloseReason.ClientClose).ToArray();

        Assert.Equal(CloseFrame.ForClient(4000, ""), frame);
    }

    [Fact]
    public void NothingForAClientThatIsGone_OrThatHasTheBackendsClose()
    {
        var gone = New();
        gone.MarkClientGone();
        Assert.True(Policy().FarewellFor(new DefaultHttpContext(), gone, SessionCloseReason.BackendLost).IsEmpty);

        var closed = New();
        closed.OnBackendData(WebSocketFrames.Encode(WebSocketOpcode.Close, [0x03, 0xE8]), 1);
        Assert.True(Policy().FarewellFor(new DefaultHttpContext(), closed, SessionCloseReason.BackendClose).IsEmpty);
    }

    [Fact]
    public void IdleTimeout_Gets1001()
        => Assert.Equal(
            CloseFrame.ForClient(1001, "idle timeout"),
            Policy().FarewellFor(new DefaultHttpContext(), New(), SessionCloseReason.IdleTimeout).ToArray());

    private static Session New() => new(1, TestServices.StartInfo(), 0, DateTimeOffset.UnixEpoch);

    // The session's destination is configured and not reported unhealthy: it failed (1011), it is not going away.
    private static ProxySessionPolicy Policy(ProxyState? state = null) => new(state ?? new ProxyState());

    private sealed class ProxyState : IProxyStateLookup
    {
        public ProxyState()
        {
            Cluster.Destinations["d1"] = new Yarp.ReverseProxy.Model.DestinationState("d1");
        }

        public Yarp.ReverseProxy.Model.ClusterState Cluster { get; } = new("cluster-a");

        public bool TryGetRoute(string id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Yarp.ReverseProxy.Model.RouteModel? route)
        {
            route = null;
            return false;
        }

        public IEnumerable<Yarp.ReverseProxy.Model.RouteModel> GetRoutes() => [];

        public bool TryGetCluster(string id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Yarp.ReverseProxy.Model.ClusterState? cluster)
        {
            cluster = id == Cluster.ClusterId ? Cluster : null;
            return cluster is not null;
        }

        public IEnumerable<Yarp.ReverseProxy.Model.ClusterState> GetClusters() => [Cluster];
    }
}
