using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Browser;

/// <summary>
/// Issue 14, "A real browser": a page in Chromium opens a WebSocket through the gateway over ws:// and wss:// and
/// echoes; a page from an origin the route does not allow gets no socket.
/// </summary>
[Collection(ChromiumCollection.Name)]
public sealed class BrowserSessionTests : IAsyncLifetime
{
    private const string AppOrigin = "http://app.test";
    private readonly ChromiumFixture _chromium;
    private readonly string _certificateDirectory = Directory.CreateTempSubdirectory("gateway-browser-tls-").FullName;
    private EchoBackend _backend = null!;
    private GatewayInstance _plain = null!;
    private GatewayInstance _tls = null!;

    public BrowserSessionTests(ChromiumFixture chromium) => _chromium = chromium;

    public async Task InitializeAsync()
    {
        _backend = await EchoBackend.StartAsync();
        _plain = await GatewayInstance.StartAsync(Settings(tls: false));
        _tls = await GatewayInstance.StartAsync(Settings(tls: true));
    }

    public async Task DisposeAsync()
    {
        await _tls.DisposeAsync();
        await _plain.DisposeAsync();
        await _backend.DisposeAsync();
        Directory.Delete(_certificateDirectory, recursive: true);
    }

    [RequiresToolTheory("chromium")]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PageOnAnAllowedOrigin_Echoes_AndItsCloseReachesTheBackend(bool tls)
    {
        var gateway = tls ? _tls : _plain;
        Assert.StartsWith(tls ? "wss://" : "ws://", gateway.PublicWs.ToString(), StringComparison.Ordinal);
        var id = tls ? "browser-wss" : "browser-ws";
        await using var page = await _chromium.OpenPageAsync(AppOrigin);

        var socket = await page.OpenedAsync(gateway.Ws($"/app/chat?id={id}"));
        Assert.Equal("hello through the gateway", await page.EchoAsync(socket, "hello through the gateway"));
        Assert.Equal("ünïcödé ✓", await page.EchoAsync(socket, "ünïcödé ✓"));

        var backendSession = _backend.Session(id);
        var close = await page.CloseAsync(socket, 1000, "bye");
        Assert.Equal(new SocketClose { Code = 1000, Reason = "bye", WasClean = true }, close);
        var (status, description) = await backendSession.Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, status);
        Assert.Equal("bye", description);
        Assert.Equal(2, backendSession.Messages);
    }

    [RequiresToolFact("chromium")]
    public async Task PageOnADisallowedOrigin_GetsNoSocket_AndTheBackendNoConnection()
    {
        await using var page = await _chromium.OpenPageAsync("http://evil.test");

        var open = await page.OpenAsync(_plain.Ws("/app/chat?id=hijack"));

        // The gateway answers 403 (even on a browser-facing route: a hijacking page must not get a socket to read a
        // reason from); all a page's script can see of a failed handshake is an error and 1006.
        Assert.False(open.Opened);
        Assert.Equal(new SocketClose { Code = 1006, Error = true }, await page.ClosedAsync(open.Id));
        Assert.Equal(0, _backend.ConnectionsAccepted);
        Assert.Equal(1, (await _plain.MetricsAsync()).Sum("gateway_admission_rejected_total", ("reason", "origin")));
    }

    private GatewaySettings Settings(bool tls)
    {
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("browser", _backend.Address);
        var route = settings.Route("app", "/app", cluster);
        settings[$"ReverseProxy:Routes:{route}:Metadata:Gateway.AllowedOrigins"] = AppOrigin;
        settings[$"ReverseProxy:Routes:{route}:Metadata:Gateway.BrowserFacing"] = "true";
        if (tls)
        {
            var (certificatePem, keyPem, _) = TestCertificates.Create();
            File.WriteAllText(Path.Combine(_certificateDirectory, "tls.crt"), certificatePem);
            File.WriteAllText(Path.Combine(_certificateDirectory, "tls.key"), keyPem);
            settings["Gateway:Server:Public:Tls:CertificateFile"] = Path.Combine(_certificateDirectory, "tls.crt");
            settings["Gateway:Server:Public:Tls:KeyFile"] = Path.Combine(_certificateDirectory, "tls.key");
        }

        return settings;
    }
}
