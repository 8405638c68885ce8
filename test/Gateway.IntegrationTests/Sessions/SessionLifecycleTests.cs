using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;
using Gateway.Sessions;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.IntegrationTests.Sessions;

/// <summary>
/// Acceptance 5: the active-session gauge follows the open sessions and returns to 0 however a session ends,
/// and every ended session is counted once (closed counter by reason, duration histogram, registry). On both relay
/// paths: each has its own end of a session to notice and judge.
/// </summary>
public sealed class SessionLifecycleTests : IAsyncLifetime
{
    // Started by the test, not by InitializeAsync: the backend leg depends on the path under test.
    private EchoGatewayFixture _fixture = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _fixture is null ? Task.CompletedTask : _fixture.DisposeAsync();

    public enum Ending
    {
        ClientClose,
        BackendClose,
        ClientDrop,
        BackendDrop,
    }

    public static TheoryData<Ending, string, RelayPath> Endings()
    {
        var data = new TheoryData<Ending, string, RelayPath>();
        foreach (var path in new[] { RelayPath.Lean, RelayPath.LeanHttp2Leg, RelayPath.Yarp })
        {
            data.Add(Ending.ClientClose, "client_close", path);
            data.Add(Ending.BackendClose, "backend_close", path);
            data.Add(Ending.ClientDrop, "client_lost", path);
            data.Add(Ending.BackendDrop, "backend_lost", path);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Endings))]
    public async Task ActiveGauge_FollowsSessions_AndReturnsToZero(Ending ending, string reason, RelayPath path)
    {
        const int Count = 5;
        _fixture = new EchoGatewayFixture { RelayPath = path };
        await _fixture.InitializeAsync();
        var registry = _fixture.Gateway.Services.GetRequiredService<SessionRegistry>();
        var sockets = new List<ClientWebSocket>();
        for (var i = 0; i < Count; i++)
        {
            var socket = await WebSocketClient.ConnectAsync(_fixture.Gateway.Ws($"/echo?id={ending}-{i}"));
            Assert.Equal([1, 2, 3], await socket.EchoAsync([1, 2, 3], WebSocketMessageType.Binary));
            sockets.Add(socket);
            Assert.Equal(i + 1, await ActiveAsync());
        }

        Assert.Equal(Count, registry.Count);
        await _fixture.Gateway.AssertOpenedOnAsync(path, Count, ("route", _fixture.RouteId));

        foreach (var socket in sockets)
        {
            await EndAsync(socket, ending);
        }

        await WaitUntilAsync(async () => await ActiveAsync() == 0);
        var metrics = await _fixture.Gateway.MetricsAsync();
        var route = ("route", _fixture.RouteId);
        Assert.Equal(Count, metrics.Sum("gateway_sessions_opened_total", route));
        Assert.Equal(Count, metrics.Sum("gateway_sessions_closed_total", route, ("reason", reason)));
        Assert.Equal(Count, metrics.Sum("gateway_sessions_closed_total", route));
        Assert.Equal(Count, metrics.Sum("gateway_session_duration_seconds_count", route));
        Assert.Equal(Count, metrics.Sum("gateway_session_duration_seconds_bucket", route, ("le", "+Inf")));
        Assert.Equal(0, registry.Count);
        Assert.Empty(registry.Sessions);
        // Bytes and messages were counted per direction: 3 bytes of payload each way plus framing.
        Assert.True(metrics.Sum("gateway_relayed_bytes_total", route, ("direction", "client_to_backend")) >= Count * 3);
        Assert.True(metrics.Sum("gateway_relayed_messages_total", route, ("direction", "backend_to_client")) >= Count);

        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }

    private static async Task EndAsync(ClientWebSocket socket, Ending ending)
    {
        switch (ending)
        {
            case Ending.ClientClose:
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                break;
            case Ending.BackendClose:
                await socket.SendAsync("cmd:close:1000:server bye"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
                await socket.ReceiveCloseAsync().WaitAsync(TimeSpan.FromSeconds(10));
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                break;
            case Ending.ClientDrop:
                // Closes the TCP connection without a close frame.
                socket.Abort();
                break;
            case Ending.BackendDrop:
                // The backend drops its connection without a close frame; the gateway tells the client with 1011.
                await socket.SendAsync("cmd:abort"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
                var received = await socket.ReceiveAsync(new byte[64], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal(WebSocketMessageType.Close, received.MessageType);
                Assert.Equal((WebSocketCloseStatus)1011, received.CloseStatus);
                Assert.Equal("backend connection lost", received.CloseStatusDescription);
                break;
        }
    }

    private async Task<double> ActiveAsync()
        => (await _fixture.Gateway.MetricsAsync()).Sum("gateway_sessions_active", ("route", _fixture.RouteId));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await Task.Delay(50);
        }
    }
}
