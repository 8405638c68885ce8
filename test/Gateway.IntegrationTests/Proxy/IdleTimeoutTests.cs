using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy;

namespace Gateway.IntegrationTests.Proxy;

/// <summary>
/// Acceptance 9: YARP's ActivityTimeout (100 s by default, it closes quiet WebSockets) is derived per cluster
/// from the gateway's session settings. Shown on the running gateway's effective YARP model, and by a short
/// configured idle timeout that really closes a quiet session while an "off" cluster keeps its session, on both
/// relay paths: each relay tells the heartbeat of its own traffic.
/// </summary>
public sealed class IdleTimeoutTests : IAsyncLifetime
{
    // Started by each test, not by InitializeAsync: the backend leg depends on the path under test.
    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _shortRoute = "";

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        if (_backend is not null)
        {
            await _backend.DisposeAsync();
        }
    }

    private async Task StartAsync(RelayPath path)
    {
        _backend = await RelayPaths.StartEchoBackendAsync(path);
        var settings = new GatewaySettings();
        settings.Route("default", "/default", settings.Cluster(path, "default", _backend.Address));
        var shortCluster = settings.Cluster(path, "short", _backend.Address);
        settings[$"ReverseProxy:Clusters:{shortCluster}:Metadata:Gateway.IdleTimeout"] = "00:00:01";
        _shortRoute = settings.Route("short", "/short", shortCluster);
        var offCluster = settings.Cluster(path, "off", _backend.Address);
        settings[$"ReverseProxy:Clusters:{offCluster}:Metadata:Gateway.IdleTimeout"] = "off";
        settings.Route("off", "/off", offCluster);
        // Globally a short idle timeout, which the "off" cluster overrides.
        settings["Gateway:Sessions:IdleTimeout"] = "00:00:02";
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    [Fact]
    public async Task EffectiveActivityTimeout_IsOffWhileTheHeartbeatEnforcesIdleTimeouts()
    {
        // A statement about the effective configuration, opening no session: the default (lean) setup as before.
        await StartAsync(RelayPath.Lean);
        var clusters = _gateway.Services.GetRequiredService<IProxyStateLookup>().GetClusters().ToDictionary(c => c.ClusterId);

        // The heartbeat's pings never reach YARP's copy loop, so YARP's timer would close quiet sessions the
        // heartbeat keeps: infinite, never YARP's 100 s default, and no timer per session. The idle timeouts
        // themselves are the heartbeat's (tier 3), as the test below shows.
        Assert.All(clusters.Values, c => Assert.Equal(Timeout.InfiniteTimeSpan, c.Model.Config.HttpRequest!.ActivityTimeout));
        Assert.All(clusters.Values, c => Assert.Equal("HealthyAndUnknown", c.Model.Config.HealthCheck!.AvailableDestinationsPolicy));
    }

    [Theory]
    [InlineData(RelayPath.Lean)]
    [InlineData(RelayPath.LeanHttp2Leg)]
    [InlineData(RelayPath.Yarp)]
    public async Task QuietSession_IsClosedAfterItsIdleTimeout_ButKeptWhereIdleTimeoutIsOff(RelayPath path)
    {
        await StartAsync(path);
        using var shortSession = await WebSocketClient.ConnectAsync(_gateway.Ws("/short"));
        using var offSession = await WebSocketClient.ConnectAsync(_gateway.Ws("/off"));

        // 1 s idle limit: the gateway ends the quiet session (YARP's activity timeout, now set from our settings)
        // and tells the client why with a close frame.
        var closed = await shortSession.ReceiveAsync(new byte[64], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(WebSocketMessageType.Close, closed.MessageType);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, closed.CloseStatus);
        Assert.Equal("idle timeout", closed.CloseStatusDescription);
        await Task.Delay(TimeSpan.FromSeconds(2.5));

        // Quiet for longer than both the short and the global limit: still open and echoing.
        Assert.Equal(WebSocketState.Open, offSession.State);
        Assert.Equal([7], await offSession.EchoAsync([7], WebSocketMessageType.Binary));
        var metrics = await _gateway.MetricsAsync();
        Assert.Equal(1, metrics.Sum("gateway_sessions_closed_total", ("route", _shortRoute), ("reason", "idle_timeout")));
        await offSession.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await _gateway.AssertOpenedOnAsync(path, 2);
    }
}
