using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Sessions;

/// <summary>
/// A client whose connection ends without a close frame: the backend is told with a close 1001 instead of
/// waiting, possibly forever, for a write that would fail; the session is recorded as lost by the client. On
/// both relay paths: each notices the client's loss in its own relay.
/// </summary>
public sealed class ClientLossTests : IAsyncLifetime
{
    // Started by the test, not by InitializeAsync: the settings depend on the path under test.
    private RawBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _route = "";

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

    [Theory]
    [InlineData(RelayPath.Lean)]
    [InlineData(RelayPath.Yarp)]
    public async Task ClientDropsWithoutACloseFrame_TheBackendGets1001ClientWentAway_AfterWhatTheClientSent(RelayPath path)
    {
        _backend = await RawBackend.StartAsync();
        var settings = new GatewaySettings();
        _route = settings.Route("raw", "/raw", settings.Cluster("raw", _backend.Address));
        // The raw backend, which shows every frame that reached it, speaks only HTTP/1.1: YARP with the lean path off.
        settings.SwitchTo(path);
        _gateway = await GatewayInstance.StartAsync(settings);
        var id = Guid.NewGuid().ToString("N");
        var client = await RawClient.ConnectAsync(_gateway.Ws("/raw?id=" + id));
        await client.SendAsync(RawFrames.Encode(RawFrame.Text, "last words"u8));
        Assert.Equal("last words", System.Text.Encoding.UTF8.GetString((await client.ReadAsync(TimeSpan.FromSeconds(5)))!.Payload));

        await client.DisposeAsync();

        var close = await _backend.Session(id).Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(close);
        Assert.Equal(1001, close.CloseStatus);
        Assert.Equal("client went away", close.CloseReason);
        Assert.Equal(["last words"], _backend.Session(id).Frames.Where(f => f.Opcode == RawFrame.Text).Select(f => System.Text.Encoding.UTF8.GetString(f.Payload)));
        await Eventually.EqualAsync(1.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("route", _route), ("reason", "client_lost")));
        await _gateway.AssertOpenedOnAsync(path, 1, ("route", _route));
    }
}
