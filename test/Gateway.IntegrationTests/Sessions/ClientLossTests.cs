using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Sessions;

/// <summary>
/// A client whose connection ends without a close frame: the backend is told with a close 1001 instead of
/// waiting, possibly forever, for a write that would fail; the session is recorded as lost by the client.
/// </summary>
public sealed class ClientLossTests : IAsyncLifetime
{
    private RawBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _route = "";

    public async Task InitializeAsync()
    {
        _backend = await RawBackend.StartAsync();
        var settings = new GatewaySettings();
        _route = settings.Route("raw", "/raw", settings.Cluster("raw", _backend.Address));
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task ClientDropsWithoutACloseFrame_TheBackendGets1001ClientWentAway_AfterWhatTheClientSent()
    {
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
    }
}
