using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Relay;

/// <summary>
/// The lean path (issue 13): an HTTP/1.1 session over an HTTP/1.1 backend leg leaves its request after the
/// handshake and is relayed at the connection level, with real sockets on both legs.
/// </summary>
public sealed class LeanPathTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The request's <c>HttpContext</c>, Kestrel's HTTP/1.1 connection object (which is the request's features) and
    /// the hosting activity become garbage once the session is open, and the session goes on. The YARP path, the
    /// control, keeps all three for the session's life: that is what the probe would see without the lean path.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OpenSession_TheRequestsObjects_AreCollectableOnlyOnTheLeanPath(bool lean)
    {
        await using var backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("lean", backend.Address);
        settings.Route("lean", "/lean", cluster);
        settings["Gateway:Sessions:LeanPath"] = lean ? "true" : "false";
        // The breaker's judgement of a session's first moments must not be what keeps the request.
        settings["Gateway:Resilience:EarlyAbortWindow"] = "00:00:00.200";
        await using var gateway = await GatewayInstance.StartAsync(settings);
        using var probe = new RequestProbe(gateway.PublicEndPoint.Port);

        using var socket = await WebSocketClient.ConnectAsync(gateway.Ws("/lean?id=probe"));
        Assert.Equal([1, 2, 3], await socket.EchoAsync([1, 2, 3], WebSocketMessageType.Binary));
        await Task.Delay(TimeSpan.FromSeconds(1));
        var (context, connection, activity) = probe.Only();

        var collected = await RequestProbe.CollectAsync(context, connection, activity);

        Assert.Equal(lean, collected);
        // Whatever the path, the session is alive and well after the collection.
        Assert.Equal([4, 5, 6], await socket.EchoAsync([4, 5, 6], WebSocketMessageType.Binary));
        var metrics = await gateway.MetricsAsync();
        Assert.Equal(1, metrics.Sum("gateway_sessions_active", ("path", lean ? "lean" : "yarp")));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
    }

    /// <summary>Bytes a client sends right behind its upgrade request, in the same segment, are the session's first frame.</summary>
    [Fact]
    public async Task FirstFrame_InTheSamePacketAsTheUpgradeRequest_ReachesTheBackend()
    {
        await using var backend = await EchoBackend.StartAsync();
        await using var gateway = await StartAsync(backend.Address);
        using var tcp = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, gateway.PublicEndPoint.Port);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var head = Encoding.ASCII.GetBytes($"GET /lean?id=early HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n");
        var frame = RawFrames.Encode(RawFrame.Text, "first"u8);

        Assert.Equal(head.Length + frame.Length, await tcp.SendAsync((byte[])[.. head, .. frame]));

        await using var stream = new System.Net.Sockets.NetworkStream(tcp);
        var response = await ReadHeadAsync(stream);
        Assert.StartsWith("HTTP/1.1 101", response, StringComparison.Ordinal);
        var echo = await ReadFrameAsync(stream);
        Assert.Equal(RawFrame.Text, echo.Opcode);
        Assert.Equal("first", Encoding.UTF8.GetString(echo.Payload));
        await Eventually.EqualAsync(1, () => backend.Session("early").Messages);
        Assert.Equal(1, (await gateway.MetricsAsync()).Sum("gateway_sessions_opened_total", ("path", "lean")));
    }

    /// <summary>A frame the backend sends in the same segment as its 101 reaches the client, as the session's first.</summary>
    [Fact]
    public async Task BackendFrame_InTheSamePacketAsIts101_ReachesTheClient()
    {
        await using var backend = SocketBackend.Start();
        await using var gateway = await StartAsync(backend.Address);

        await using var client = await RawClient.ConnectAsync(gateway.Ws("/lean?id=greeting"));

        var greeting = await client.ReadAsync(Timeout);
        Assert.NotNull(greeting);
        Assert.Equal(SocketBackend.Greeting, Encoding.UTF8.GetString(greeting.Payload));
        await client.SendAsync(RawFrames.Encode(RawFrame.Text, "after"u8));
        var echo = await client.ReadAsync(Timeout);
        Assert.Equal("after", Encoding.UTF8.GetString(echo!.Payload));
        Assert.Equal(1, (await gateway.MetricsAsync()).Sum("gateway_sessions_opened_total", ("path", "lean")));
        // The request YARP's transforms built went out as HTTP/1.1, with the forwarding headers.
        var request = Assert.Single(backend.Requests);
        Assert.StartsWith("GET /lean?id=greeting HTTP/1.1\r\n", request, StringComparison.Ordinal);
        Assert.Contains("\r\nX-Forwarded-For: 127.0.0.1", request, StringComparison.Ordinal);
    }

    /// <summary>wss:// clients take the lean path too: the relay runs above Kestrel's TLS layer.</summary>
    [Fact]
    public async Task Wss_TakesTheLeanPath()
    {
        var fixture = new TlsEchoGatewayFixture();
        await fixture.InitializeAsync();
        try
        {
            Assert.Equal("wss", fixture.Gateway.PublicWs.Scheme);
            var sockets = new List<ClientWebSocket>();
            for (var i = 0; i < 5; i++)
            {
                var socket = await WebSocketClient.ConnectAsync(fixture.Gateway.Ws($"/echo?id=tls-{i}"));
                sockets.Add(socket);
                var message = RandomNumberGenerator.GetBytes(70_000);
                Assert.Equal(message, await socket.EchoAsync(message, WebSocketMessageType.Binary));
            }

            Assert.Equal(5, (await fixture.Gateway.MetricsAsync()).Sum("gateway_sessions_active", ("path", "lean")));
            foreach (var socket in sockets)
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                socket.Dispose();
            }

            await Eventually.EqualAsync(5.0, async () => (await fixture.Gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("path", "lean"), ("reason", "client_close")));
        }
        finally
        {
            await fixture.DisposeAsync();
        }
    }

    /// <summary>
    /// An https:// destination over HTTP/1.1 takes the lean path too: the lean connector speaks TLS to it (with the
    /// cluster's certificate setting), and the relay runs on the TLS stream.
    /// </summary>
    [Fact]
    public async Task HttpsDestination_OverHttp11_TakesTheLeanPath()
    {
        await using var backend = await EchoBackend.StartAsync(tls: true);
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("tls", backend.Address);
        settings[$"ReverseProxy:Clusters:{cluster}:HttpClient:DangerousAcceptAnyServerCertificate"] = "true";
        settings[$"ReverseProxy:Clusters:{cluster}:HttpRequest:Version"] = "1.1";
        settings[$"ReverseProxy:Clusters:{cluster}:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        settings.Route("lean", "/lean", cluster);
        await using var gateway = await GatewayInstance.StartAsync(settings);

        using var socket = await WebSocketClient.ConnectAsync(gateway.Ws("/lean?id=over-tls"));
        var message = RandomNumberGenerator.GetBytes(100_000);

        Assert.Equal(message, await socket.EchoAsync(message, WebSocketMessageType.Binary));
        Assert.Equal(1, backend.Session("over-tls").Messages);
        Assert.Equal(1, (await gateway.MetricsAsync()).Sum("gateway_sessions_active", ("path", "lean")));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        await Eventually.EqualAsync(1.0, async () => (await gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("path", "lean"), ("reason", "client_close")));
    }

    /// <summary>
    /// 16 MiB from the backend, in slow fragments while the client is silent (so the heartbeat pings it between the
    /// backend's frames and the client's pongs are cut out of its stream), then 16 MiB from the client: every byte
    /// arrives, in order, each way.
    /// </summary>
    [Fact]
    public async Task SixteenMiB_EachWay_WhileTheHeartbeatPings()
    {
        const int Fragments = 16;
        const int FragmentSize = 1024 * 1024;
        await using var backend = await RawBackend.StartAsync();
        await using var gateway = await StartAsync(backend.Address, new()
        {
            // A ping after a second of client silence, looked at again two seconds later: a few pings while the backend
            // streams (8 s). Not shorter: on a loaded machine the client's reader (and with it its pongs and, by
            // backpressure through the echo, its uploads) can stall for a second, and a half-second pong timeout then
            // evicted the session in the middle of the upload (seen once, in a full run beside the Autobahn suite).
            ["Gateway:Heartbeat:ProbeAfter"] = "00:00:01",
            ["Gateway:Heartbeat:PongTimeout"] = "00:00:02",
            ["Gateway:Heartbeat:TickInterval"] = "00:00:00.100",
        });
        using var socket = await WebSocketClient.ConnectAsync(gateway.Ws("/lean?id=big"), keepAlive: TimeSpan.Zero);

        // Backend to client: 16 fragments 500 ms apart (~8 s), the client only reading.
        await socket.SendAsync("stream:16:1048576:500"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var received = await ReceiveMessageAsync(socket, TimeSpan.FromSeconds(30));
        Assert.Equal(RawBackend.MessageByte(Fragments * FragmentSize), received);
        var done = await ReceiveMessageAsync(socket, Timeout);
        Assert.Equal("done", Encoding.UTF8.GetString(done));
        var pings = (await gateway.MetricsAsync()).Sum("gateway_heartbeat_pings_total");
        Assert.True(pings >= 2, $"the heartbeat pinged {pings} times during the transfer");

        // Client to backend: one message of 16 frames (within the default 4 MiB frame limit), echoed back. The client
        // reads the echo while it sends, as a client must: the gateway holds at most 64 KiB a direction
        // (Limits:MaxConnectionBufferSize) and the kernel's capped buffers, so a client that only writes to an echo
        // backend would be held back by TCP once those are full, by design.
        var upload = RandomNumberGenerator.GetBytes(Fragments * FragmentSize);
        var echo = ReceiveMessageAsync(socket, TimeSpan.FromSeconds(30));
        for (var i = 0; i < Fragments; i++)
        {
            await socket.SendAsync(upload.AsMemory(i * FragmentSize, FragmentSize), WebSocketMessageType.Binary, i == Fragments - 1, CancellationToken.None);
        }

        Assert.Equal(SHA256.HashData(upload), SHA256.HashData(await echo));
        var session = backend.Session("big");
        Assert.DoesNotContain(session.Frames, frame => frame.Opcode == RawFrame.Pong);
        var metrics = await gateway.MetricsAsync();
        Assert.True(metrics.Sum("gateway_heartbeat_pongs_total") >= 1);
        Assert.Equal(1, metrics.Sum("gateway_sessions_active", ("path", "lean")));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
    }

    /// <summary>
    /// The client half-closes (a close frame, then FIN on its sending side) and keeps reading: what the backend still
    /// sends, its echo and its close reply, reaches the client.
    /// </summary>
    [Fact]
    public async Task ClientHalfClose_TheBackendsLastFramesStillReachTheClient()
    {
        await using var backend = await RawBackend.StartAsync();
        await using var gateway = await StartAsync(backend.Address);
        using var tcp = new System.Net.Sockets.TcpClient(System.Net.Sockets.AddressFamily.InterNetwork) { NoDelay = true };
        await using var client = await RawClient.ConnectAsync(gateway.Ws("/lean?id=half-client"));

        await client.SendAsync([.. RawFrames.Encode(RawFrame.Text, "last words"u8), .. RawFrames.CloseFrame(1000, "bye", mask: true)]);
        client.ShutdownSend();

        var echo = await client.ReadAsync(Timeout);
        Assert.Equal("last words", Encoding.UTF8.GetString(echo!.Payload));
        var close = await client.ReadAsync(Timeout);
        Assert.Equal(RawFrame.Close, close!.Opcode);
        Assert.Equal(1000, close.CloseStatus);
        Assert.Null(await client.ReadAsync(Timeout));
        await Eventually.EqualAsync(1.0, async () => (await gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("path", "lean"), ("reason", "client_close")));
    }

    /// <summary>
    /// The backend sends a message and half-closes without a close frame: the client gets the message, then the
    /// gateway's 1011 (the backend is gone), and the session counts as lost by the backend.
    /// </summary>
    [Fact]
    public async Task BackendHalfClose_TheClientGetsItsLastMessage_Then1011()
    {
        await using var backend = SocketBackend.Start();
        await using var gateway = await StartAsync(backend.Address);
        await using var client = await RawClient.ConnectAsync(gateway.Ws("/lean?id=half-backend"));
        Assert.Equal(SocketBackend.Greeting, Encoding.UTF8.GetString((await client.ReadAsync(Timeout))!.Payload));

        await client.SendAsync(RawFrames.Encode(RawFrame.Text, "fin"u8));

        // The socket backend echoes "fin" and then half-closes.
        Assert.Equal("fin", Encoding.UTF8.GetString((await client.ReadAsync(Timeout))!.Payload));
        var close = await client.ReadAsync(Timeout);
        Assert.Equal(RawFrame.Close, close!.Opcode);
        Assert.Equal(1011, close.CloseStatus);
        await Eventually.EqualAsync(1.0, async () => (await gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("path", "lean"), ("reason", "backend_lost")));
    }

    /// <summary>A backend that refuses the upgrade with a page (chunked) gets its status and page to the client.</summary>
    [Fact]
    public async Task BackendRefusal_WithABody_ReachesTheClient()
    {
        await using var backend = await RawBackend.StartAsync();
        await using var gateway = await StartAsync(backend.Address);

        var (status, body) = await RawUpgradeAsync(gateway, "/lean?id=refuse&status=403");

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal(RawBackend.RefusalPage, body);
        var metrics = await gateway.MetricsAsync();
        Assert.Equal(0, metrics.Sum("gateway_sessions_opened_total"));
    }

    /// <summary>
    /// Routes and clusters reload while lean sessions are open: the open sessions go on where they are, new sessions
    /// follow the new configuration.
    /// </summary>
    [Fact]
    public async Task RouteReload_WhileLeanSessionsAreOpen_OldSessionsGoOn_NewOnesFollowTheNewRoutes()
    {
        await using var first = await EchoBackend.StartAsync();
        await using var second = await EchoBackend.StartAsync();
        var file = Path.Combine(Directory.CreateTempSubdirectory("gateway-reload-").FullName, "routes.json");
        await File.WriteAllTextAsync(file, Routes(first.Address));
        var settings = new GatewaySettings();
        await using var gateway = await GatewayInstance.StartAsync(settings, configure: config =>
            Microsoft.Extensions.Configuration.JsonConfigurationExtensions.AddJsonFile(config, file, optional: false, reloadOnChange: true));
        var open = new List<ClientWebSocket>();
        for (var i = 0; i < 10; i++)
        {
            var socket = await WebSocketClient.ConnectAsync(gateway.Ws($"/reload?id=old-{i}"));
            Assert.Equal([7], await socket.EchoAsync([7], WebSocketMessageType.Binary));
            open.Add(socket);
        }

        await File.WriteAllTextAsync(file, Routes(second.Address));
        await Eventually.EqualAsync(true, async () =>
        {
            using var probe = await WebSocketClient.ConnectAsync(gateway.Ws("/reload?id=probe-" + Guid.NewGuid()));
            var moved = second.SessionsAccepted > 0;
            await probe.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            return moved;
        }, TimeSpan.FromSeconds(20));

        foreach (var socket in open)
        {
            Assert.Equal([8, 9], await socket.EchoAsync([8, 9], WebSocketMessageType.Binary));
        }

        Assert.Equal(10, first.Sessions.Count(pair => pair.Key.StartsWith("old-", StringComparison.Ordinal) && pair.Value.Messages == 2));
        Assert.Equal(10, (await gateway.MetricsAsync()).Sum("gateway_sessions_active", ("path", "lean")));
        foreach (var socket in open)
        {
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            socket.Dispose();
        }

        static string Routes(string address) => $$"""
            { "ReverseProxy": {
                "Routes": { "reload": { "ClusterId": "reload", "Match": { "Path": "/reload/{**rest}" } },
                            "reload-root": { "ClusterId": "reload", "Match": { "Path": "/reload" } } },
                "Clusters": { "reload": { "Destinations": { "d": { "Address": "{{address}}" } } } } } }
            """;
    }

    private static async Task<GatewayInstance> StartAsync(string backendAddress, Dictionary<string, string?>? extra = null)
    {
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("lean", backendAddress);
        settings.Route("lean", "/lean", cluster);
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value!;
        }

        return await GatewayInstance.StartAsync(settings);
    }

    private static async Task<byte[]> ReceiveMessageAsync(ClientWebSocket socket, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        using var message = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancel.Token);
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return message.ToArray();
            }
        }
    }

    private static async Task<string> ReadHeadAsync(Stream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(one) == 1)
        {
            head.Append((char)one[0]);
        }

        return head.ToString();
    }

    private static async Task<RawFrame> ReadFrameAsync(Stream stream)
    {
        using var cancel = new CancellationTokenSource(Timeout);
        return await RawFrames.ReadAsync(stream, cancel.Token) ?? throw new IOException("The connection ended.");
    }

    /// <summary>An upgrade through the gateway that the backend refuses: the status and the body the client got.</summary>
    private static async Task<(HttpStatusCode Status, string Body)> RawUpgradeAsync(GatewayInstance gateway, string pathAndQuery)
    {
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, gateway.Http(pathAndQuery));
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)));
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", "13");
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
