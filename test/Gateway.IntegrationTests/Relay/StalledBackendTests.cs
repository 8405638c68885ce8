using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Gateway.IntegrationTests.Relay;

/// <summary>
/// Issue 14, item 3: a backend that stops reading. The client's bytes must be held back by TCP backpressure, not by
/// the gateway's memory (Kestrel's defaults let each such session take ~1.1 MiB), and the session's end must blame
/// the backend, not the client whose pong is stuck behind those bytes.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class StalledBackendTests(ITestOutputHelper output)
{
    private const int FrameSize = 16 * 1024;

    /// <summary>What one client tries to push at most: enough to fill Kestrel's old 1 MiB input buffer and the kernel's.</summary>
    private const int MaxPushedPerClient = 1536 * 1024;

    [Fact]
    public async Task FiveHundredSessionsBehindAStalledBackend_EachHoldsNoMoreThanTheBound_TheClientsAreHeldBackByTcp()
    {
        const int Sessions = 500;
        const int Bound = 64 * 1024;
        await using var backend = StalledBackend.Start();
        await using var gateway = GatewayProcess.Start("Production", new Dictionary<string, string>
        {
            ["Gateway__Admission__PerClient__PermitsPerSecond"] = "0",
            ["Gateway__Admission__PerClient__MaxSessions"] = "0",
            ["Gateway__Heartbeat__Enabled"] = "false",
            // Fixed kernel buffers on the client leg too, so what the clients can push before TCP stops them is small
            // and the same on every run (autotuning would grow the gateway's receive buffers to megabytes).
            ["Gateway__Server__SocketBuffers__ReceiveBufferSize"] = "65536",
            ["ReverseProxy__Routes__stalled__ClusterId"] = "stalled",
            ["ReverseProxy__Routes__stalled__Match__Path"] = "/stalled",
            ["ReverseProxy__Clusters__stalled__Destinations__d1__Address"] = backend.Address,
        });
        var (publicPort, managementPort) = await GatewayProcess.PortsAsync(gateway);

        var clients = new List<Socket>();
        try
        {
            for (var batch = 0; batch < Sessions; batch += 50)
            {
                clients.AddRange(await Task.WhenAll(Enumerable.Range(0, 50).Select(i => ConnectAsync(publicPort, (byte)(2 + ((batch + i) % 8))))));
            }

            await Eventually.EqualAsync(Sessions, () => Task.FromResult(backend.Upgraded), TimeSpan.FromSeconds(30));
            await Task.Delay(TimeSpan.FromSeconds(2));
            var before = Rss(gateway.Id);

            var pushed = Flood(clients);
            await Task.Delay(TimeSpan.FromSeconds(2));
            var after = Rss(gateway.Id);

            var perSession = (after - before) / (double)Sessions;
            var averagePushed = pushed.Average();
            output.WriteLine($"RSS {before / 1024} -> {after / 1024} KiB: {perSession / 1024:F1} KiB per stalled session; each client pushed {averagePushed / 1024:F0} KiB on average");
            // The bound each way, the relay's one read buffer (16 KiB) and the pool's rounding: 2 x bound + 32 KiB.
            Assert.True(
                perSession <= (2 * Bound) + (32 * 1024),
                $"RSS grew {perSession / 1024:F0} KiB per stalled session ({before / 1024} -> {after / 1024} KiB); each client pushed {averagePushed / 1024:F0} KiB on average");
            // And the clients were stopped by TCP, not by the gateway failing: every session still open.
            Assert.True(averagePushed < MaxPushedPerClient, $"the clients were never held back ({averagePushed / 1024:F0} KiB each)");
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{managementPort}") };
            var metrics = MetricsSnapshot.Parse(await http.GetStringAsync("/metrics"));
            Assert.Equal(Sessions, metrics.Sum("gateway_sessions_active"));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(RelayPath.Lean)]
    [InlineData(RelayPath.Yarp)]
    public async Task ASessionWhoseBackendStoppedReading_IsClosedAsBackendStalled_NotAsAnUnresponsiveClient(RelayPath path)
    {
        await using var backend = StalledBackend.Start();
        var settings = new GatewaySettings();
        var route = settings.Route("stalled", "/stalled", settings.Cluster("stalled", backend.Address));
        settings["Gateway:Heartbeat:TickInterval"] = "00:00:00.200";
        settings["Gateway:Heartbeat:ProbeAfter"] = "00:00:01";
        settings["Gateway:Heartbeat:PongTimeout"] = "00:00:01";
        settings.SwitchTo(path);
        await using var gateway = await GatewayInstance.StartAsync(settings);

        using var client = await ConnectAsync(gateway.PublicWs.Port, 2);
        var pushed = Flood([client]);
        Assert.True(pushed[0] < MaxPushedPerClient, "the client was never held back");

        // The client answers every ping it gets, but its pong waits behind the bytes the backend does not take.
        client.Blocking = true;
        using var stream = new NetworkStream(client, ownsSocket: false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        RawFrame? close = null;
        while (await RawFrames.ReadAsync(stream, timeout.Token) is { } frame)
        {
            if (frame.Opcode == RawFrame.Close)
            {
                close = frame;
                break;
            }
        }

        Assert.NotNull(close);
        Assert.Equal(1011, close.CloseStatus);
        Assert.Equal("backend not reading", close.CloseReason);
        await Eventually.EqualAsync(1.0, async () => (await gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("route", route), ("reason", "backend_stalled")));
        var metrics = await gateway.MetricsAsync();
        Assert.Equal(0, metrics.Sum("gateway_sessions_closed_total", ("reason", "heartbeat_timeout")));
        Assert.Equal(1, metrics.Sum("gateway_sessions_evicted_total", ("tier", "backend_stalled")));
    }

    /// <summary>Pushes binary frames on every client, non-blocking, until no client has made progress for a second.</summary>
    private static long[] Flood(List<Socket> clients)
    {
        var frame = RawFrames.Encode(RawFrame.Binary, new byte[FrameSize - 8]);
        var pushed = new long[clients.Count];
        var lastProgress = Environment.TickCount64;
        var deadline = Environment.TickCount64 + 60_000;
        while (Environment.TickCount64 - lastProgress < 1000 && Environment.TickCount64 < deadline)
        {
            var progress = false;
            for (var i = 0; i < clients.Count; i++)
            {
                while (pushed[i] < MaxPushedPerClient)
                {
                    var offset = (int)(pushed[i] % frame.Length);
                    var sent = clients[i].Send(frame, offset, frame.Length - offset, SocketFlags.None, out var error);
                    if (error != SocketError.Success || sent == 0)
                    {
                        break;
                    }

                    pushed[i] += sent;
                    progress = true;
                }
            }

            if (progress)
            {
                lastProgress = Environment.TickCount64;
            }
            else
            {
                Thread.Sleep(50);
            }
        }

        return pushed;
    }

    /// <summary>A WebSocket client on a bare socket with a small send buffer, non-blocking once upgraded.</summary>
    private static async Task<Socket> ConnectAsync(int port, byte source)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { SendBufferSize = 16 * 1024 };
        socket.Bind(new IPEndPoint(new IPAddress([127, 0, 0, source]), 0));
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            $"GET /stalled HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
        var head = new StringBuilder();
        var one = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await socket.ReceiveAsync(one, timeout.Token) == 1)
        {
            head.Append((char)one[0]);
        }

        Assert.StartsWith("HTTP/1.1 101", head.ToString(), StringComparison.Ordinal);
        socket.Blocking = false;
        return socket;
    }

    private static long Rss(int pid)
        => long.Parse(File.ReadAllLines($"/proc/{pid}/status").First(line => line.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
}
