using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Resilience;

/// <summary>Acceptance 4: a backend process killed under live sessions; clients get a close frame and reconnect elsewhere.</summary>
public sealed class BackendLossTests
{
    private const int Sessions = 200;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task KilledBackend_EveryClientOnItGetsA1011Close_AndReconnectsToTheSurvivor(bool http2)
    {
        await using var doomed = await BackendProcess.StartAsync(http2);
        await using var survivor = await EchoBackend.StartAsync(http2);
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("mortal", http2, doomed.Address, survivor.Address);
        settings[$"ReverseProxy:Clusters:{cluster}:LoadBalancingPolicy"] = "RoundRobin";
        Breakers.Configure(settings, cluster, minimumThroughput: 5, breakDuration: "00:00:30");
        settings.Route("mortal", "/mortal", cluster);
        await using var gateway = await GatewayInstance.StartAsync(settings);

        var sockets = new ClientWebSocket[Sessions];
        for (var i = 0; i < Sessions; i++)
        {
            sockets[i] = await WebSocketClient.ConnectAsync(gateway.Ws($"/mortal?id={i}"));
            Assert.Equal([1], await sockets[i].EchoAsync([1], WebSocketMessageType.Binary));
        }

        var onDoomed = (int)(await gateway.MetricsAsync()).Sum("gateway_destination_sessions", ("cluster", cluster), ("destination", "d1"));
        Assert.InRange(onDoomed, 90, 110);
        Assert.Equal(Sessions - onDoomed, survivor.ActiveSessions);

        // Every client waits for its next frame; the backend process dies.
        var receives = sockets.Select(s => s.ReceiveAsync(new byte[64], CancellationToken.None)).ToArray();
        await doomed.KillAsync();

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (receives.Count(r => r.IsCompleted) < onDoomed && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await Task.Delay(200);
        var ended = receives.Where(r => r.IsCompleted).ToList();
        Assert.Equal(onDoomed, ended.Count);
        foreach (var receive in ended)
        {
            // A faulted receive is the 1006-style abort the gateway must not leave clients with.
            Assert.True(receive.IsCompletedSuccessfully, receive.Exception?.ToString());
            var result = await receive;
            Assert.Equal(WebSocketMessageType.Close, result.MessageType);
            Assert.Contains((int)result.CloseStatus!, new[] { 1011, 1012 });
        }

        // Everyone whose backend died reconnects, and lands on the survivor (connect refused → next destination).
        for (var i = 0; i < Sessions; i++)
        {
            if (!receives[i].IsCompleted)
            {
                continue;
            }

            sockets[i].Dispose();
            sockets[i] = await WebSocketClient.ConnectAsync(gateway.Ws($"/mortal?id=re{i}"));
            Assert.Equal([2], await sockets[i].EchoAsync([2], WebSocketMessageType.Binary));
        }

        Assert.Equal(Sessions, survivor.ActiveSessions);
        var metrics = await gateway.MetricsAsync();
        Assert.Equal(onDoomed, metrics.Sum("gateway_sessions_closed_total", ("cluster", cluster), ("reason", "backend_lost")));

        // The untouched clients still have their pending receive; one more echo each proves they live.
        for (var i = 0; i < Sessions; i++)
        {
            if (receives[i].IsCompleted)
            {
                continue;
            }

            await sockets[i].SendAsync(new byte[] { 3 }, WebSocketMessageType.Binary, true, CancellationToken.None);
            var echoed = await receives[i].WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(WebSocketMessageType.Binary, echoed.MessageType);
        }

        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }
}
