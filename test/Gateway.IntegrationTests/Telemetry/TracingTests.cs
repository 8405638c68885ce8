using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Telemetry;

/// <summary>
/// Issue 15, item 3: the upgrade span, exported over OTLP/HTTP by the built gateway as a process (the standard
/// <c>OTEL_*</c> variables are read as in production) to a real receiver that decodes the protobuf.
/// </summary>
/// <remarks>
/// In the timing collection, which runs alone: the in-process heap check's tracer listens to every ASP.NET Core
/// host in the process, and the process test needs the default OTLP ports to itself.
/// </remarks>
[Collection(TimingCollection.Name)]
public sealed class TracingTests
{
    private static readonly TimeSpan SpanTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// One server span per upgrade, child of the client's <c>traceparent</c>, carrying the gateway's decisions, ended
    /// at the handshake: it arrives while the session is still open. The backend's upgrade request carries the
    /// trace: on the lean path the upgrade span is its parent, on the YARP path HttpClient's span under it.
    /// </summary>
    [Theory]
    [InlineData(ClientProtocol.Http11, "lean")]
    [InlineData(ClientProtocol.H2c, "yarp")]
    public async Task Upgrade_IsOneServerSpanEndedAtTheHandshake_WithTheGatewaysAttributes_AndTheBackendJoinsTheTrace(ClientProtocol protocol, string path)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var backend = await EchoBackend.StartAsync();
        await using var gateway = StartGateway(backend, receiver);
        var (publicPort, h2cPort, managementPort) = await GatewayProcess.AllPortsAsync(gateway);
        var port = protocol == ClientProtocol.H2c ? h2cPort : publicPort;
        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        var parentId = ActivitySpanId.CreateRandom().ToHexString();

        using var socket = await ConnectAsync(new Uri($"ws://127.0.0.1:{port}/echo?id=traced"), protocol, $"00-{traceId}-{parentId}-01");
        Assert.Equal([1, 2, 3], await socket.EchoAsync([1, 2, 3], WebSocketMessageType.Binary));

        // The session is open, and stays open: the span has ended and been exported anyway.
        var upgrade = Assert.Single(await receiver.WaitForSpansAsync(span => span.TraceId == traceId && span.Kind == 2, 1, SpanTimeout));
        Assert.Equal(parentId, upgrade.ParentSpanId);
        Assert.Equal(protocol == ClientProtocol.H2c ? "CONNECT /echo" : "GET /echo", upgrade.Name);
        Assert.Equal("Microsoft.AspNetCore", upgrade.ScopeName);
        Assert.Equal("websocket-gateway", upgrade.ResourceAttributes["service.name"]);
        Assert.Equal("echo", upgrade.Attr("gateway.route"));
        Assert.Equal("echo", upgrade.Attr("gateway.cluster"));
        Assert.Equal("d1", upgrade.Attr("gateway.destination"));
        Assert.Equal("admitted", upgrade.Attr("gateway.admission.decision"));
        Assert.Equal("closed", upgrade.Attr("gateway.breaker.state"));
        Assert.Equal(path, upgrade.Attr("gateway.session.path"));
        Assert.True(long.Parse(upgrade.Attr("gateway.session.id")!) > 0);
        Assert.Equal(protocol == ClientProtocol.H2c ? "200" : "101", upgrade.Attr("http.response.status_code"));
        Assert.Equal("/echo", upgrade.Attr("http.route"));
        Assert.True(upgrade.Duration < TimeSpan.FromSeconds(5), $"the span lasted {upgrade.Duration}");

        var traceParent = backend.Session("traced").TraceParent;
        Assert.NotNull(traceParent);
        var parts = traceParent.Split('-');
        Assert.Equal(traceId, parts[1]);
        if (path == "lean")
        {
            // The lean connector injects the upgrade span itself; its timings are on the span.
            Assert.Equal(upgrade.SpanId, parts[2]);
            Assert.True(double.Parse(upgrade.Attr("gateway.backend.connect.duration")!, System.Globalization.CultureInfo.InvariantCulture) >= 0);
            Assert.True(double.Parse(upgrade.Attr("gateway.backend.handshake.duration")!, System.Globalization.CultureInfo.InvariantCulture) > 0);
        }
        else
        {
            var client = Assert.Single(await receiver.WaitForSpansAsync(span => span.TraceId == traceId && span.SpanId == parts[2], 1, SpanTimeout));
            Assert.Equal(3, client.Kind);
            Assert.Equal(upgrade.SpanId, client.ParentSpanId);
        }

        Assert.Equal([4, 5, 6], await socket.EchoAsync([4, 5, 6], WebSocketMessageType.Binary));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, (await backend.Session("traced").Closed.Task.WaitAsync(SpanTimeout)).Status);

        // Probes and scrapes on the management port are not traced, even with a sampled parent.
        var probeTrace = ActivityTraceId.CreateRandom().ToHexString();
        using (var http = new HttpClient())
        {
            foreach (var managementPath in new[] { "/healthz", "/metrics" })
            {
                using var probe = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{managementPort}{managementPath}");
                probe.Headers.TryAddWithoutValidation("traceparent", $"00-{probeTrace}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
                (await http.SendAsync(probe)).EnsureSuccessStatusCode();
            }
        }

        // The same endpoint takes the gateway's metrics over OTLP.
        await Eventually.EqualAsync(true, () => receiver.MetricsNamed("gateway.sessions.opened"), SpanTimeout);

        // Stopping flushes the exporter: the session's end is a log line (SessionClosed, by session id), not a second
        // span, and the probes left none.
        gateway.Terminate();
        Assert.Equal(0, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Single(receiver.Spans, span => span.TraceId == traceId && span.Kind == 2);
        Assert.DoesNotContain(receiver.Spans, span => span.TraceId == probeTrace);
    }

    /// <summary>
    /// The heap check: with tracing on, a lean session's upgrade span (the request's <see cref="Activity"/>) is garbage
    /// once the session is open, as its <c>HttpContext</c> is, while the session goes on. On the YARP path (the
    /// control) ASP.NET Core holds the stopped activity with the request, for the session's life.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TracedSession_TheUpgradeSpanIsCollectableOnceOpen_OnTheLeanPath(bool lean)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        settings.Route("traced", "/traced", settings.Cluster("traced", backend.Address));
        settings["Gateway:Sessions:LeanPath"] = lean ? "true" : "false";
        settings["Gateway:Resilience:EarlyAbortWindow"] = "00:00:00.200";
        settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint.ToString();
        settings["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        settings["OTEL_BSP_SCHEDULE_DELAY"] = "100";
        await using var gateway = await GatewayInstance.StartAsync(settings);
        using var probe = new RequestProbe(gateway.PublicEndPoint.Port);
        var traceId = ActivityTraceId.CreateRandom().ToHexString();

        using var socket = await ConnectAsync(gateway.Ws("/traced?id=held"), ClientProtocol.Http11, $"00-{traceId}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
        Assert.Equal([1, 2, 3], await socket.EchoAsync([1, 2, 3], WebSocketMessageType.Binary));
        Assert.Single(await receiver.WaitForSpansAsync(span => span.TraceId == traceId && span.Attr("gateway.session.id") is not null, 1, SpanTimeout));
        var (context, _, activity) = probe.Only();

        Assert.Equal(lean, await RequestProbe.CollectAsync(context, activity));
        Assert.Equal([4, 5, 6], await socket.EchoAsync([4, 5, 6], WebSocketMessageType.Binary));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
    }

    /// <summary>
    /// Without tracing the lean connector passes the client's trace headers on as they came (ASP.NET Core's activity
    /// for log correlation is never recorded, so its id would name a span no one has).
    /// </summary>
    [Fact]
    public async Task WithoutTracing_TheClientsTraceparent_ReachesTheBackendUnchanged()
    {
        await using var backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        settings.Route("plain", "/plain", settings.Cluster("plain", backend.Address));
        await using var gateway = await GatewayInstance.StartAsync(settings);
        var traceParent = $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";

        using var socket = await ConnectAsync(gateway.Ws("/plain?id=untraced"), ClientProtocol.Http11, traceParent);
        Assert.Equal([1], await socket.EchoAsync([1], WebSocketMessageType.Binary));

        Assert.Equal(traceParent, backend.Session("untraced").TraceParent);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
    }

    /// <summary>A refused upgrade is its span's whole story: the decision, the reason, the answer.</summary>
    [Fact]
    public async Task RefusedUpgrade_SpanCarriesTheDecisionTheReasonAndTheStatus()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var backend = await EchoBackend.StartAsync();
        await using var gateway = StartGateway(backend, receiver, new()
        {
            ["ReverseProxy__Routes__echo__Metadata__Gateway.AllowedOrigins"] = "https://app.example",
            // An operator's resource attributes win over the gateway's defaults.
            ["OTEL_RESOURCE_ATTRIBUTES"] = "service.instance.id=pod-7,deployment.environment=test",
        });
        var (publicPort, _, _) = await GatewayProcess.AllPortsAsync(gateway);
        var traceId = ActivityTraceId.CreateRandom().ToHexString();

        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
        socket.Options.SetRequestHeader("Origin", "https://evil.example");
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri($"ws://127.0.0.1:{publicPort}/echo"), CancellationToken.None));

        var span = Assert.Single(await receiver.WaitForSpansAsync(s => s.TraceId == traceId && s.Kind == 2, 1, SpanTimeout));
        Assert.Equal("rejected", span.Attr("gateway.admission.decision"));
        Assert.Equal("origin", span.Attr("gateway.refusal.reason"));
        Assert.Equal("403", span.Attr("http.response.status_code"));
        Assert.Equal(2, span.StatusCode);
        Assert.Null(span.Attr("gateway.session.id"));
        Assert.Equal(0, backend.ConnectionsAccepted);
        Assert.Equal("websocket-gateway", span.ResourceAttributes["service.name"]);
        Assert.Equal("pod-7", span.ResourceAttributes["service.instance.id"]);
        Assert.Equal("test", span.ResourceAttributes["deployment.environment"]);
    }

    /// <summary>
    /// With no <c>OTEL_*</c> variable the gateway opens no exporter connection: nothing listens on the default OTLP
    /// ports 4317 (gRPC) and 4318 (HTTP) but these listeners. The control, with the endpoint set, is seen at once.
    /// </summary>
    [Fact]
    public async Task WithoutOtelVariables_NoExporterConnectionIsOpened()
    {
        using var grpc = new DefaultPort(4317);
        using var http = new DefaultPort(4318);
        await using var backend = await EchoBackend.StartAsync();
        var settings = Routes(backend);
        // The batch processor exports every 5 s by default; a few seconds of traffic would have shown one.
        await using (var quiet = GatewayProcess.Start("Production", settings))
        {
            var (publicPort, _) = await GatewayProcess.PortsAsync(quiet);
            await TrafficAsync(publicPort, TimeSpan.FromSeconds(7));
            Assert.False(grpc.Pending(), "the gateway connected to 127.0.0.1:4317");
            Assert.False(http.Pending(), "the gateway connected to 127.0.0.1:4318");
        }

        settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318";
        settings["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        settings["OTEL_BSP_SCHEDULE_DELAY"] = "200";
        await using var traced = GatewayProcess.Start("Production", settings);
        var (tracedPort, _) = await GatewayProcess.PortsAsync(traced);
        await TrafficAsync(tracedPort, TimeSpan.FromSeconds(1));
        // The control: the same listener sees an exporter as soon as one is configured.
        await Eventually.EqualAsync(true, http.Pending, TimeSpan.FromSeconds(15));
    }

    private static ExternalProcess StartGateway(EchoBackend backend, OtlpReceiver receiver, Dictionary<string, string>? extra = null)
    {
        var settings = Routes(backend);
        settings["Gateway__Server__PublicH2c__Address"] = "127.0.0.1";
        settings["Gateway__Server__PublicH2c__Port"] = "0";
        settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint.ToString();
        settings["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        settings["OTEL_BSP_SCHEDULE_DELAY"] = "100";
        settings["OTEL_METRIC_EXPORT_INTERVAL"] = "500";
        // No session is left when a test stops the gateway: no reason to wait for load balancers.
        settings["Gateway__Drain__Delay"] = "00:00:00";
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        return GatewayProcess.Start("Production", settings);
    }

    private static Dictionary<string, string> Routes(EchoBackend backend) => new()
    {
        ["ReverseProxy__Routes__echo__ClusterId"] = "echo",
        ["ReverseProxy__Routes__echo__Match__Path"] = "/echo",
        ["ReverseProxy__Clusters__echo__Destinations__d1__Address"] = backend.Address,
    };

    private static async Task<ClientWebSocket> ConnectAsync(Uri uri, ClientProtocol protocol, string traceParent)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("traceparent", traceParent);
        if (protocol == ClientProtocol.H2c)
        {
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
            await socket.ConnectAsync(uri, invoker, CancellationToken.None);
        }
        else
        {
            await socket.ConnectAsync(uri, CancellationToken.None);
        }

        return socket;
    }

    /// <summary>Upgrades, echoes and plain requests for <paramref name="duration"/>.</summary>
    private static async Task TrafficAsync(int port, TimeSpan duration)
    {
        var until = DateTime.UtcNow + duration;
        using var http = new HttpClient();
        do
        {
            using var socket = await WebSocketClient.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/echo"));
            await socket.EchoAsync([1], WebSocketMessageType.Binary);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            using var _ = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/echo/plain"));
            await Task.Delay(200);
        }
        while (DateTime.UtcNow < until);
    }

    /// <summary>
    /// A default OTLP port, listened on at both loopback addresses (the exporter's default endpoint is
    /// <c>localhost</c>, which may resolve to either).
    /// </summary>
    private sealed class DefaultPort : IDisposable
    {
        private readonly List<TcpListener> _listeners = [];

        public DefaultPort(int port)
        {
            foreach (var address in new[] { IPAddress.Loopback, IPAddress.IPv6Loopback })
            {
                var listener = new TcpListener(address, port);
                try
                {
                    listener.Start();
                    _listeners.Add(listener);
                }
                catch (SocketException exception) when (address.Equals(IPAddress.IPv6Loopback) && exception.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported)
                {
                    listener.Dispose(); // no IPv6 here: localhost is 127.0.0.1
                }
                catch (SocketException exception)
                {
                    Dispose();
                    throw new InvalidOperationException($"Port {port} (a default OTLP port) is taken at {address}; the test needs it to see an exporter's connection.", exception);
                }
            }
        }

        public bool Pending() => _listeners.Exists(listener => listener.Pending());

        public void Dispose()
        {
            foreach (var listener in _listeners)
            {
                listener.Dispose();
            }
        }
    }
}
