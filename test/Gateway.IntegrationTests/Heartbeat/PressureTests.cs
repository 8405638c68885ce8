using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Heartbeat;

/// <summary>
/// Tier 4: above the high watermark the heartbeat sheds the coldest sessions (longest without an application
/// message) first, down to the mark, and never the hot ones, however old they are. On both relay paths: a shed
/// session is closed by whichever relay carries it, and its traffic is what keeps it hot.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class PressureTests : IAsyncLifetime
{
    private const int High = 5;

    // Started by the test, not by InitializeAsync: the backend leg depends on the path under test.
    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _route = "";

    public Task InitializeAsync() => Task.CompletedTask;

    private async Task StartAsync(RelayPath path)
    {
        _backend = await RelayPaths.StartEchoBackendAsync(path);
        var settings = new GatewaySettings();
        _route = settings.Route("pressure", "/pressure", settings.Cluster(path, "echo", _backend.Address));
        // A priority route is still admitted above the high watermark; the heartbeat then brings it back down.
        settings[$"ReverseProxy:Routes:{_route}:Metadata:Gateway.Priority"] = "true";
        settings["Gateway:Admission:Watermarks:Low"] = "1";
        settings["Gateway:Admission:Watermarks:High"] = High.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Gateway:Admission:Watermarks:Critical"] = "50";
        settings["Gateway:Heartbeat:TickInterval"] = "00:00:00.100";
        settings["Gateway:Heartbeat:Pressure:MinIdle"] = "00:00:01";
        _gateway = await GatewayInstance.StartAsync(settings);
    }

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

    [Theory]
    [InlineData(RelayPath.Lean)]
    [InlineData(RelayPath.LeanHttp2Leg)]
    [InlineData(RelayPath.Yarp)]
    public async Task AboveTheHighWatermark_TheColdestAreShedFirst_TheOldestHotOnesStay(RelayPath path)
    {
        await StartAsync(path);
        using var stop = new CancellationTokenSource();
        var hot = new List<(ClientWebSocket Socket, Task Chat)>();
        var cold = new List<(ClientWebSocket Socket, Task<(WebSocketCloseStatus? Status, string? Description)> Closed)>();
        try
        {
            await Scenario(stop, hot, cold);
            await _gateway.AssertOpenedOnAsync(path, hot.Count + cold.Count, ("route", _route));
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var socket in hot.Select(h => h.Socket).Concat(cold.Select(c => c.Socket)))
            {
                socket.Abort();
                socket.Dispose();
            }
        }
    }

    private async Task Scenario(
        CancellationTokenSource stop,
        List<(ClientWebSocket Socket, Task Chat)> hot,
        List<(ClientWebSocket Socket, Task<(WebSocketCloseStatus? Status, string? Description)> Closed)> cold)
    {
        // The three oldest sessions are the hot ones: a message every 200 ms.
        for (var i = 0; i < 3; i++)
        {
            var socket = await ConnectAsync();
            hot.Add((socket, ChatAsync(socket, stop.Token)));
        }

        // Then cold ones: one message each, then silence. c0 and c1 fill up to the mark.
        for (var i = 0; i < 5; i++)
        {
            if (i >= 2)
            {
                // Every session past the mark makes one excess: the coldest idle one goes.
                await Task.Delay(TimeSpan.FromSeconds(1.3));
            }

            var socket = await ConnectAsync();
            Assert.Equal([(byte)i], await socket.EchoAsync([(byte)i], WebSocketMessageType.Binary));
            cold.Add((socket, socket.ReceiveCloseAsync()));
        }

        await Task.Delay(TimeSpan.FromSeconds(1));

        // Shed: c0, c1, c2, in that order of coldness; c3 and c4 were too fresh (under MinIdle) or not needed.
        for (var i = 0; i < 3; i++)
        {
            var (status, description) = await cold[i].Closed.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal((WebSocketCloseStatus)1013, status);
            Assert.Equal("shed under load", description);
        }

        Assert.False(cold[3].Closed.IsCompleted);
        Assert.False(cold[4].Closed.IsCompleted);
        Assert.All(hot, h => Assert.Equal(WebSocketState.Open, h.Socket.State));
        Assert.All(hot, h => Assert.False(h.Chat.IsCompleted, "hot sessions keep chatting"));

        var metrics = await _gateway.MetricsAsync();
        Assert.Equal(3, metrics.Sum("gateway_sessions_evicted_total", ("route", _route), ("tier", "pressure")));
        Assert.Equal(High, metrics.Sum("gateway_sessions_active", ("route", _route)));

        await stop.CancelAsync();
        await Task.WhenAll(hot.Select(h => h.Chat));
    }

    private Task<ClientWebSocket> ConnectAsync() => WebSocketClient.ConnectAsync(_gateway.Ws("/pressure?id=" + Guid.NewGuid().ToString("N")));

    private static async Task ChatAsync(ClientWebSocket socket, CancellationToken stop)
    {
        byte value = 0;
        while (!stop.IsCancellationRequested)
        {
            await socket.EchoAsync([value++], WebSocketMessageType.Binary, CancellationToken.None);
            try
            {
                await Task.Delay(200, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
