using Gateway.Frames;
using Gateway.Proxy;
using Gateway.Relay;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy;

namespace Gateway.Tests.Resilience;

/// <summary>How a session's end is judged, and what the client is told when the backend vanished.</summary>
public sealed class ProxySessionPolicyTests
{
    [Fact]
    public void Judge_CloseFramesDecide_ThenWhichTransportEnded()
    {
        Assert.Equal(SessionCloseReason.IdleTimeout, ProxySessionPolicy.Judge(New(), RelayFault.ActivityTimeout));

        var clientClosed = New();
        clientClosed.RecordClientClose(1000);
        Assert.Equal(SessionCloseReason.ClientClose, ProxySessionPolicy.Judge(clientClosed, RelayFault.None));

        var backendClosed = New();
        backendClosed.RecordBackendClose(1000);
        Assert.Equal(SessionCloseReason.BackendClose, ProxySessionPolicy.Judge(backendClosed, RelayFault.BackendRead));

        var clientGone = New();
        clientGone.MarkClientGone();
        Assert.Equal(SessionCloseReason.ClientLost, ProxySessionPolicy.Judge(clientGone, RelayFault.None));
        Assert.Equal(SessionCloseReason.ClientLost, ProxySessionPolicy.Judge(New(), RelayFault.ClientRead));
        Assert.Equal(SessionCloseReason.ClientLost, ProxySessionPolicy.Judge(New(), RelayFault.ClientRead));

        // The gateway's own close (an eviction, a refused frame) decides over everything else.
        var evicted = New();
        evicted.RecordClientClose(1000);
        evicted.TryBeginGatewayClose(SessionCloseReason.HeartbeatTimeout, 10);
        Assert.Equal(SessionCloseReason.HeartbeatTimeout, ProxySessionPolicy.Judge(evicted, RelayFault.ClientRead));

        // The backend's end of stream (no error reported) or a failed read from it.
        Assert.Equal(SessionCloseReason.BackendLost, ProxySessionPolicy.Judge(New(), RelayFault.None));
        Assert.Equal(SessionCloseReason.BackendLost, ProxySessionPolicy.Judge(New(), RelayFault.BackendRead));
        Assert.Equal(SessionCloseReason.BackendLost, ProxySessionPolicy.Judge(New(), RelayFault.BackendWrite));
        Assert.Equal(SessionCloseReason.ClientLost, ProxySessionPolicy.Judge(New(), RelayFault.ClientWrite));
    }

    [Theory]
    [InlineData(ForwarderError.UpgradeActivityTimeout, (int)RelayFault.ActivityTimeout)]
    [InlineData(ForwarderError.UpgradeRequestClient, (int)RelayFault.ClientRead)]
    [InlineData(ForwarderError.UpgradeRequestCanceled, (int)RelayFault.ClientRead)]
    [InlineData(ForwarderError.UpgradeResponseCanceled, (int)RelayFault.ClientRead)]
    [InlineData(ForwarderError.UpgradeResponseClient, (int)RelayFault.ClientWrite)]
    [InlineData(ForwarderError.UpgradeRequestDestination, (int)RelayFault.BackendWrite)]
    [InlineData(ForwarderError.UpgradeResponseDestination, (int)RelayFault.BackendRead)]
    [InlineData(ForwarderError.None, (int)RelayFault.None)]
    public void YarpErrors_AreRelayFaults(ForwarderError error, int fault) => Assert.Equal((RelayFault)fault, SessionUpgrade.FaultOf(error));

    [Fact]
    public void BackendLost_AtAFrameBoundary_Gets1011()
    {
        var session = New();

        var frame = Policy().FarewellFor(session, SessionCloseReason.BackendLost, atFrameBoundary: true).ToArray();

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
        Assert.Equal(CloseFrame.ForClient(1012, "service restart"), Policy(state).FarewellFor(session, SessionCloseReason.BackendLost, atFrameBoundary: true).ToArray());

        // Still configured, but its active health check reports it unhealthy (readiness failing while it stops).
        var destination = new Yarp.ReverseProxy.Model.DestinationState("d1");
        destination.Health.Active = Yarp.ReverseProxy.Model.DestinationHealth.Unhealthy;
        state.Cluster.Destinations["d1"] = destination;
        Assert.Equal(CloseFrame.ForClient(1012, "service restart"), Policy(state).FarewellFor(session, SessionCloseReason.BackendLost, atFrameBoundary: true).ToArray());
    }

    [Fact]
    public void BackendLost_DestinationIdNowAtAnotherAddress_Gets1012_SameAddress1011()
    {
        var state = new ProxyState();
        var session = new Session(1, TestServices.StartInfo() with { DestinationAddress = "http://10.0.0.1:8080" }, 0);

        // A rollout kept the id (a pod name, say) and gave it a new address: the session's backend is gone for good.
        state.Cluster.Destinations["d1"] = new Yarp.ReverseProxy.Model.DestinationState("d1", new Yarp.ReverseProxy.Model.DestinationModel(new Yarp.ReverseProxy.Configuration.DestinationConfig { Address = "http://10.0.0.2:8080" }));
        Assert.Equal(CloseFrame.ForClient(1012, "service restart"), Policy(state).FarewellFor(session, SessionCloseReason.BackendLost, atFrameBoundary: true).ToArray());

        state.Cluster.Destinations["d1"] = new Yarp.ReverseProxy.Model.DestinationState("d1", new Yarp.ReverseProxy.Model.DestinationModel(new Yarp.ReverseProxy.Configuration.DestinationConfig { Address = "HTTP://10.0.0.1:8080" }));
        Assert.Equal(CloseFrame.ForClient(1011, "backend connection lost"), Policy(state).FarewellFor(session, SessionCloseReason.BackendLost, atFrameBoundary: true).ToArray());
    }

    [Fact]
    public void BackendLost_InsideAFrame_GetsNothing_TheStreamIsAlreadyBroken()
    {
        var session = New();

        Assert.True(Policy().FarewellFor(session, SessionCloseReason.BackendLost, atFrameBoundary: false).IsEmpty);
    }

    [Fact]
    public void ClientClosed_BackendVanished_TheGatewayAnswersTheClose()
    {
        var session = New();
        session.RecordClientClose(4000);

        var frame = Policy().FarewellFor(session, SessionCloseReason.ClientClose, atFrameBoundary: true).ToArray();

        Assert.Equal(CloseFrame.ForClient(4000, ""), frame);
    }

    [Fact]
    public void NothingForAClientThatIsGone_OrThatHasTheBackendsClose()
    {
        var gone = New();
        gone.MarkClientGone();
        Assert.True(Policy().FarewellFor(gone, SessionCloseReason.BackendLost, atFrameBoundary: true).IsEmpty);

        var closed = New();
        closed.RecordBackendClose(1000);
        Assert.True(Policy().FarewellFor(closed, SessionCloseReason.BackendClose, atFrameBoundary: true).IsEmpty);

        // The gateway already sent its own close (an eviction): nothing more may follow it.
        var evicted = New();
        evicted.TryBeginGatewayClose(SessionCloseReason.IdleTimeout, 10);
        Assert.True(Policy().FarewellFor(evicted, SessionCloseReason.IdleTimeout, atFrameBoundary: true).IsEmpty);
    }

    [Fact]
    public void IdleTimeout_Gets1001()
        => Assert.Equal(
            CloseFrame.ForClient(1001, "idle timeout"),
            Policy().FarewellFor(New(), SessionCloseReason.IdleTimeout, atFrameBoundary: true).ToArray());

    private static Session New() => new(1, TestServices.StartInfo(), 0);

    // The session's destination is configured and not reported unhealthy: it failed (1011), it is not going away.
    private static ProxySessionPolicy Policy(ProxyState? state = null) => new(state ?? new ProxyState(), TestServices.RouteSessionPolicies());

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
