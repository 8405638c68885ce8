using System.Net;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Admission;

/// <summary>How a refusal reaches the client, over HTTP/1.1 and HTTP/2, on ordinary and browser-facing routes.</summary>
public sealed class RejectionAnswerTests : IAsyncLifetime
{
    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;

    public async Task InitializeAsync()
    {
        _backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("answers", _backend.Address);
        settings.Route("plain", "/plain", cluster);
        var browser = settings.Route("browser", "/browser", cluster);
        settings[$"ReverseProxy:Routes:{browser}:Metadata:Gateway.BrowserFacing"] = "true";
        // One token, then one every 100 s: everything after the first upgrade is refused.
        settings["Gateway:Admission:Rate:PermitsPerSecond"] = "0.01";
        settings["Gateway:Admission:Rate:MinimumPermitsPerSecond"] = "0.01";
        settings["Gateway:Admission:Rate:Burst"] = "1";
        settings["Gateway:Admission:RetryAfterJitter"] = "00:00:00";
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task Refusal_Http11AndH2c_PlainRouteGets503_BrowserRouteGets1013_NoBackendConnection()
    {
        var first = await UpgradeAttempt.RunAsync(_gateway.Ws("/plain/first"));
        using var admitted = first.Socket;
        Assert.True(first.Open, first.ToString());

        var plainH1 = await UpgradeAttempt.RunAsync(_gateway.Ws("/plain/x"));
        var plainH2 = await UpgradeAttempt.RunAsync(new Uri(_gateway.H2cWs, "/plain/x"), http2: true);
        var browserH1 = await UpgradeAttempt.RunAsync(_gateway.Ws("/browser/x"), closeWait: TimeSpan.FromSeconds(5));
        var browserH2 = await UpgradeAttempt.RunAsync(new Uri(_gateway.H2cWs, "/browser/x"), closeWait: TimeSpan.FromSeconds(5), http2: true);

        foreach (var plain in new[] { plainH1, plainH2 })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, plain.Status);
            // The next token is 100 s away, and the lease says so.
            Assert.Equal("100", plain.RetryAfter);
        }

        foreach (var browser in new[] { browserH1, browserH2 })
        {
            Assert.Equal((WebSocketCloseStatus)1013, browser.CloseStatus);
            Assert.Equal("Try Again Later; retry after 100 s", browser.CloseDescription);
        }

        Assert.Equal(HttpStatusCode.SwitchingProtocols, browserH1.Status);
        Assert.Equal(HttpStatusCode.OK, browserH2.Status);
        Assert.Equal(1, _backend.ConnectionsAccepted);
        Assert.Equal(1, _backend.SessionsAccepted);
    }

    [Fact]
    public async Task Refusal_Http11_ClosesTheConnection()
    {
        using var first = (await UpgradeAttempt.RunAsync(_gateway.Ws("/plain/first"))).Socket;
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, _gateway.PublicEndPoint.Port);
        var stream = client.GetStream();
        var request = "GET /plain/x HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream);
        var response = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 503 Service Unavailable\r\n", response, StringComparison.Ordinal);
        Assert.Contains("Connection: close\r\n", response, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Retry-After: 100\r\n", response, StringComparison.OrdinalIgnoreCase);
        Assert.EndsWith("The gateway is not accepting new sessions at the moment; retry after 100 s.\n", response, StringComparison.Ordinal);
    }
}
