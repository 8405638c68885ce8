using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Proxy;

/// <summary>Acceptance 2: close codes and reasons cross the gateway intact, in both directions.</summary>
public sealed class CloseHandshakeTests : IClassFixture<EchoGatewayFixture>
{
    private readonly EchoGatewayFixture _fixture;

    public CloseHandshakeTests(EchoGatewayFixture fixture)
    {
        _fixture = fixture;
    }

    [Theory]
    [InlineData(ClientProtocol.Http11)]
    [InlineData(ClientProtocol.H2c)]
    public async Task ClientClose_1000_BackendSeesSameStatusAndReason(ClientProtocol protocol)
    {
        var id = Guid.NewGuid().ToString("N");
        using var socket = await Connect(protocol, id);

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "client done", CancellationToken.None);

        var (status, description) = await _fixture.Backend.Session(id).Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(WebSocketCloseStatus.NormalClosure, status);
        Assert.Equal("client done", description);
        Assert.Equal(WebSocketState.Closed, socket.State);
    }

    [Theory]
    [InlineData(ClientProtocol.Http11)]
    [InlineData(ClientProtocol.H2c)]
    public async Task BackendClose_4001Bye_ClientSeesSameStatusAndReason(ClientProtocol protocol)
    {
        var id = Guid.NewGuid().ToString("N");
        using var socket = await Connect(protocol, id);

        await socket.SendAsync("cmd:close:4001:bye"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var (status, description) = await socket.ReceiveCloseAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "ack", CancellationToken.None);

        Assert.Equal((WebSocketCloseStatus)4001, status);
        Assert.Equal("bye", description);
        var backendSaw = await _fixture.Backend.Session(id).Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(WebSocketCloseStatus.NormalClosure, backendSaw.Status);
    }

    private Task<ClientWebSocket> Connect(ClientProtocol protocol, string id)
        => WebSocketClient.ConnectAsync(
            protocol == ClientProtocol.H2c ? new Uri(_fixture.Gateway.H2cWs, "/echo?id=" + id) : _fixture.Gateway.Ws("/echo?id=" + id),
            protocol);
}
