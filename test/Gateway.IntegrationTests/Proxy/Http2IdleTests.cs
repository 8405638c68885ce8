using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Proxy;

/// <summary>
/// An HTTP/2 WebSocket is a request whose body is the client's half of the session. Kestrel's minimum request
/// body data rate (240 B/s after a 5 s grace) must not cut a quiet one, on the client leg (h2c to the gateway)
/// or on the backend leg (gateway to an h2c backend).
/// </summary>
public sealed class Http2IdleTests : IAsyncLifetime
{
    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;

    public async Task InitializeAsync()
    {
        _backend = await EchoBackend.StartAsync(http2: true);
        var settings = new GatewaySettings();
        settings.Route("h2", "/echo", settings.Cluster("h2", http2: true, _backend.Address));
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task QuietHttp2Session_BothLegs_OutlivesKestrelsDataRateGracePeriod()
    {
        using var socket = await WebSocketClient.ConnectAsync(new Uri(_gateway.H2cWs, "/echo"), ClientProtocol.H2c);
        Assert.Equal([1], await socket.EchoAsync([1], WebSocketMessageType.Binary));

        await Task.Delay(TimeSpan.FromSeconds(8));

        Assert.Equal(WebSocketState.Open, socket.State);
        Assert.Equal([2], await socket.EchoAsync([2], WebSocketMessageType.Binary));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }
}
