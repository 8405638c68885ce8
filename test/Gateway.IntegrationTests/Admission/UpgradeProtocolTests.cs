using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.IntegrationTests.Admission;

/// <summary>
/// Issue 14, item 2: an upgrade is a session when its <c>Upgrade</c> header lists <c>websocket</c>, whatever else
/// it lists, and the backend is asked for WebSocket only; every other protocol switch (HTTP/1.1, or an HTTP/2
/// extended CONNECT with another <c>:protocol</c>, item 6) is refused with 400, counted, and never reaches a backend.
/// The backend here accepts whatever it is asked for, as lenient servers do: a WebSocket from a token list, any
/// other upgrade as a byte echo.
/// </summary>
public sealed class UpgradeProtocolTests : IAsyncLifetime
{
    private WebApplication _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _route = "";
    private readonly ConcurrentQueue<string> _upgradesSeen = new();

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

    private async Task StartAsync(RelayPath path)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        _backend = builder.Build();
        _backend.UseWebSockets();
        _backend.Run(LenientBackendAsync);
        await _backend.StartAsync();
        var address = _backend.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var settings = new GatewaySettings();
        _route = settings.Route("lenient", "/lenient", settings.Cluster("lenient", address));
        settings[$"ReverseProxy:Routes:{_route}:Metadata:Gateway.MaxFrameSize"] = "1024";
        settings["Logging:LogLevel:Gateway.Admission"] = "Debug";
        settings.SwitchTo(path);
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    private async Task LenientBackendAsync(HttpContext context)
    {
        _upgradesSeen.Enqueue(context.Request.Headers.Upgrade.ToString());
        if (context.WebSockets.IsWebSocketRequest)
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == System.Net.WebSockets.WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(result.CloseStatus ?? System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, result.CloseStatusDescription, CancellationToken.None);
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, CancellationToken.None);
            }
        }

        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        if (upgrade is { IsUpgradableRequest: true })
        {
            // Any other protocol: switched to, and every byte echoed (an opaque tunnel, if the gateway lets it).
            context.Response.Headers.Upgrade = context.Request.Headers.Upgrade.ToString().Split(',')[0].Trim();
            var stream = await upgrade.UpgradeAsync();
            await stream.CopyToAsync(stream);
            return;
        }

        context.Response.StatusCode = 404;
    }

    [Theory]
    [InlineData(RelayPath.Lean, "SPDY/3.1")]
    [InlineData(RelayPath.Yarp, "SPDY/3.1")]
    [InlineData(RelayPath.Lean, "h2c")]
    [InlineData(RelayPath.Lean, "websocketx")]
    [InlineData(RelayPath.Lean, "TLS/1.2, IRC/6.9")]
    public async Task AnotherProtocol_Is400_Counted_AndNeverReachesTheBackend(RelayPath path, string protocol)
    {
        await StartAsync(path);
        var (head, client) = await SendUpgradeAsync($"Upgrade: {protocol}");
        client.Dispose();

        Assert.StartsWith("HTTP/1.1 400", head, StringComparison.Ordinal);
        Assert.Contains("must list websocket", head, StringComparison.Ordinal);
        Assert.Empty(_upgradesSeen);
        var metrics = await _gateway.MetricsAsync();
        Assert.Equal(1, metrics.Sum("gateway_admission_rejected_total", ("route", _route), ("reason", "unsupported_protocol")));
        Assert.Equal(0, metrics.Sum("gateway_sessions_opened_total"));
        Assert.Single(_gateway.Logs.Entries, e => e.EventId.Name == "ProtocolRejected");
    }

    [Theory]
    [InlineData(RelayPath.Lean, "SPDY/3.1, websocket")]
    [InlineData(RelayPath.Yarp, "SPDY/3.1, websocket")]
    [InlineData(RelayPath.Lean, "WebSocket, h2c")]
    public async Task WebSocketInAList_IsASession_TheBackendIsAskedForWebSocketOnly_AndFramesAreChecked(RelayPath path, string protocols)
    {
        await StartAsync(path);
        var (head, client) = await SendUpgradeAsync($"Upgrade: {protocols}", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
        using var tcp = client;
        Assert.StartsWith("HTTP/1.1 101", head, StringComparison.Ordinal);
        Assert.Equal(["websocket"], _upgradesSeen);
        await _gateway.AssertOpenedOnAsync(path, 1, ("route", _route));

        // A session, so the route's frame limit holds: a 2 KiB frame is refused with 1009, not echoed.
        var stream = tcp.GetStream();
        await stream.WriteAsync(RawFrames.Encode(RawFrame.Binary, new byte[2048]));
        var frame = await RawFrames.ReadAsync(stream, new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        Assert.Equal(RawFrame.Close, frame!.Opcode);
        Assert.Equal(1009, frame.CloseStatus);
    }

    [Theory]
    [InlineData("foo")]
    [InlineData("connect-udp")]
    public async Task Http2ExtendedConnect_WithAnotherProtocol_Is400_NotA502_AndLogsNoWarning(string protocol)
    {
        await StartAsync(RelayPath.Lean);
        using var handler = new SocketsHttpHandler();
        using var http = new HttpClient(handler);
        for (var i = 0; i < 20; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Connect, new Uri($"http://127.0.0.1:{_gateway.H2cEndPoint!.Port}/lenient"))
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            request.Headers.Protocol = protocol;
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(":protocol must be websocket", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Empty(_upgradesSeen);
        var metrics = await _gateway.MetricsAsync();
        Assert.Equal(20, metrics.Sum("gateway_admission_rejected_total", ("route", _route), ("reason", "unsupported_protocol")));
        // One Debug line each (the summary says the rest); nothing at Warning or above, no stack trace.
        Assert.DoesNotContain(_gateway.Logs.Entries, e => e.Level >= LogLevel.Warning && (e.Exception is not null || e.Category.StartsWith("Yarp", StringComparison.Ordinal)));
        Assert.Equal(20, _gateway.Logs.Entries.Count(e => e.EventId.Name == "ProtocolRejected" && e.Level == LogLevel.Debug));
    }

    /// <summary>Sends an HTTP/1.1 upgrade request with the given header lines and reads the response head.</summary>
    private async Task<(string Head, TcpClient Client)> SendUpgradeAsync(params string[] headers)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _gateway.PublicWs.Port);
        var request = $"GET /lenient HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n{string.Join("\r\n", headers)}\r\n\r\n";
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var head = new StringBuilder();
        var one = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(one, timeout.Token) == 1)
        {
            head.Append((char)one[0]);
        }

        if (head.ToString().StartsWith("HTTP/1.1 400", StringComparison.Ordinal))
        {
            // The body says why.
            var body = new byte[512];
            var read = await stream.ReadAsync(body, timeout.Token);
            head.Append(Encoding.UTF8.GetString(body, 0, read));
        }

        return (head.ToString(), tcp);
    }
}
