using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Proxy;

/// <summary>Acceptance 1: byte-for-byte echo through the gateway, every WebSocket length encoding, both client forms.</summary>
public sealed class RoundTripTests : IClassFixture<EchoGatewayFixture>
{
    private readonly EchoGatewayFixture _fixture;

    public RoundTripTests(EchoGatewayFixture fixture)
    {
        _fixture = fixture;
    }

    public static TheoryData<int, WebSocketMessageType, ClientProtocol> Cases()
    {
        var data = new TheoryData<int, WebSocketMessageType, ClientProtocol>();
        // 7-bit, largest 7-bit, smallest 16-bit, largest 16-bit, smallest 64-bit lengths, and a 4 MiB message.
        foreach (var size in new[] { 0, 125, 126, 65_535, 65_536, 4 * 1024 * 1024 })
        {
            foreach (var type in new[] { WebSocketMessageType.Text, WebSocketMessageType.Binary })
            {
                data.Add(size, type, ClientProtocol.Http11);
                data.Add(size, type, ClientProtocol.H2c);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Echo_EverySizeAndType_RoundTripsByteForByte(int size, WebSocketMessageType type, ClientProtocol protocol)
    {
        var uri = protocol == ClientProtocol.H2c ? new Uri(_fixture.Gateway.H2cWs, "/echo") : _fixture.Gateway.Ws("/echo");
        // Both relay paths are covered by the client forms: over this HTTP/1.1 cluster an HTTP/1.1 client's session
        // is relayed lean, an h2c one by YARP.
        var path = protocol == ClientProtocol.H2c ? RelayPath.Yarp : RelayPath.Lean;
        var openedBefore = await OpenedAsync(path);
        using var socket = await WebSocketClient.ConnectAsync(uri, protocol);
        var payload = Payload(size, type, seed: size);

        var echoed = await socket.EchoAsync(payload, type);
        // A second message on the same session proves the framing stayed in sync after the first.
        var second = Payload(size / 3, type, seed: size + 1);
        var echoedSecond = await socket.EchoAsync(second, type);

        Assert.Equal(payload.Length, echoed.Length);
        Assert.True(payload.AsSpan().SequenceEqual(echoed), "first message differs");
        Assert.True(second.AsSpan().SequenceEqual(echoedSecond), "second message differs");
        // The class's cases run one after another on the shared gateway: this one opened the only new session.
        Assert.Equal(openedBefore + 1, await OpenedAsync(path));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
    }

    private async Task<double> OpenedAsync(RelayPath path)
        => (await _fixture.Gateway.MetricsAsync()).Sum("gateway_sessions_opened_total", ("route", _fixture.RouteId), ("path", path.Label()));

    internal static byte[] Payload(int size, WebSocketMessageType type, int seed)
    {
        var random = new Random(seed);
        var payload = new byte[size];
        if (type == WebSocketMessageType.Binary)
        {
            random.NextBytes(payload);
        }
        else
        {
            // Printable ASCII is valid UTF-8 however it is split.
            for (var i = 0; i < size; i++)
            {
                payload[i] = (byte)random.Next(0x20, 0x7F);
            }
        }

        return payload;
    }
}

/// <summary>Acceptance 1 over TLS: wss:// with HTTP/1.1 and HTTP/2 (ALPN h2) on the same listener.</summary>
public sealed class TlsRoundTripTests : IClassFixture<TlsEchoGatewayFixture>
{
    private readonly TlsEchoGatewayFixture _fixture;

    public TlsRoundTripTests(TlsEchoGatewayFixture fixture)
    {
        _fixture = fixture;
    }

    [Theory]
    [InlineData(ClientProtocol.Http11)]
    [InlineData(ClientProtocol.H2)]
    public async Task Echo_OverTls_RoundTrips(ClientProtocol protocol)
    {
        using var socket = await WebSocketClient.ConnectAsync(_fixture.Gateway.Ws("/echo"), protocol);
        foreach (var size in new[] { 0, 125, 126, 65_536, 1024 * 1024 })
        {
            var payload = RoundTripTests.Payload(size, WebSocketMessageType.Binary, size);
            var echoed = await socket.EchoAsync(payload, WebSocketMessageType.Binary);
            Assert.True(payload.AsSpan().SequenceEqual(echoed));
        }

        // The gateway saw the client form we asked for: an RFC 8441 CONNECT answers 200, an upgrade 101.
        Assert.Equal(protocol == ClientProtocol.H2 ? System.Net.HttpStatusCode.OK : System.Net.HttpStatusCode.SwitchingProtocols, socket.HttpStatusCode);
        var metrics = await _fixture.Gateway.MetricsAsync();
        Assert.True(metrics.Sum("gateway_sessions_opened_total", ("route", _fixture.RouteId), ("protocol", protocol == ClientProtocol.H2 ? "h2" : "http/1.1")) >= 1);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }
}
