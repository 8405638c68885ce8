using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Hosting;

/// <summary>
/// Issue 14, item 1: silent connections must not take the pod down. The built gateway under <c>ulimit -n 512</c>:
/// its cap is derived from that limit, connections over it are closed at once and counted, silent ones go at the
/// first-byte deadline, the management port answers throughout, and sessions open again afterwards.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed partial class ConnectionLimitTests
{
    private const int OpenFileLimit = 512;

    /// <summary>More than the cap, and fewer than the reserve of 256 (what may be open for an instant beyond it).</summary>
    private const int Silent = 200;

    [Fact]
    public async Task SilentConnections_AtTheDescriptorLimit_AreCappedAndTimedOut_TheManagementPortAnswers_NothingCrashes()
    {
        await using var backend = await EchoBackend.StartAsync();
        await using var gateway = GatewayProcess.Start(
            "Production",
            new Dictionary<string, string>
            {
                ["Gateway__Admission__PerClient__PermitsPerSecond"] = "0",
                ["Gateway__Server__Limits__FirstByteTimeout"] = "00:00:02",
                ["ReverseProxy__Routes__echo__ClusterId"] = "echo",
                ["ReverseProxy__Routes__echo__Match__Path"] = "/echo",
                ["ReverseProxy__Clusters__echo__Destinations__d1__Address"] = backend.Address,
            },
            OpenFileLimit);
        var (publicPort, managementPort) = await GatewayProcess.PortsAsync(gateway);
        var limits = await gateway.WaitForOutputAsync(CappedRegex(), TimeSpan.FromSeconds(10));
        Assert.Equal(OpenFileLimit, int.Parse(limits.Groups["limit"].Value));
        // (512 − what the runtime had open at start − 256 reserved) ÷ 2 descriptors a connection.
        var openAtStart = int.Parse(limits.Groups["open"].Value);
        var expectedCap = (OpenFileLimit - openAtStart - 256) / 2;
        Assert.True(expectedCap is > 0 and < Silent, $"cap {expectedCap} with {openAtStart} descriptors open at start");
        Assert.Equal(expectedCap, int.Parse(limits.Groups["cap"].Value));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{managementPort}"), Timeout = TimeSpan.FromSeconds(5) };

        // Connections that never send a byte: more than the cap; held, they and the runtime's own would be more than
        // the process may open.
        var silent = new List<Socket>();
        try
        {
            for (var i = 0; i < Silent; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(new IPAddress([127, 0, 0, (byte)(2 + (i % 8))]), 0));
                silent.Add(socket);
                try
                {
                    await socket.ConnectAsync(IPAddress.Loopback, publicPort);
                }
                catch (SocketException exception) when (exception.SocketErrorCode == SocketError.ConnectionReset)
                {
                    // Closed by the gateway at once (over the cap), before the connect was seen complete here.
                }
            }

            // Over the cap: closed at once, counted; the management port answers all along.
            await Eventually.EqualAsync((double)(Silent - expectedCap), async () => Metrics(await http.GetStringAsync("/metrics")).Sum("gateway_connections_refused_total", ("reason", "limit")), TimeSpan.FromSeconds(10));
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
            var atCap = Metrics(await http.GetStringAsync("/metrics"));
            Assert.Equal(expectedCap, atCap.Sum("gateway_connections_open"));
            Assert.Equal(expectedCap, atCap.Sum("gateway_connections_limit"));

            // Silent ones go at the first-byte deadline (2 s), not the keep-alive timeout (130 s).
            await Eventually.EqualAsync((double)expectedCap, async () => Metrics(await http.GetStringAsync("/metrics")).Sum("gateway_connections_refused_total", ("reason", "first_byte_timeout")), TimeSpan.FromSeconds(10));
            var buffer = new byte[1];
            foreach (var socket in silent)
            {
                socket.ReceiveTimeout = 5000;
                Assert.Equal(0, ReceiveOrReset(socket, buffer));
            }
        }
        finally
        {
            foreach (var socket in silent)
            {
                socket.Dispose();
            }
        }

        // And a session opens and echoes as before; the process never went down.
        using var session = await WebSocketClient.ConnectAsync(new Uri($"ws://127.0.0.1:{publicPort}/echo"));
        Assert.Equal([1, 2, 3], await session.EchoAsync([1, 2, 3], WebSocketMessageType.Binary));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        Assert.False(gateway.HasExited, gateway.StandardError);
        Assert.Equal(0, Metrics(await http.GetStringAsync("/metrics")).Sum("gateway_connections_refused_total", ("reason", "limit")) - (Silent - expectedCap));

        // Every connection is counted out when it closes, the session's too.
        await session.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Eventually.EqualAsync(0.0, async () => Metrics(await http.GetStringAsync("/metrics")).Sum("gateway_connections_open"), TimeSpan.FromSeconds(10));
    }

    private static MetricsSnapshot Metrics(string text) => MetricsSnapshot.Parse(text);

    /// <summary>What a read of a closed connection gives: 0 at its end, or a reset (an aborted connection), also 0.</summary>
    private static int ReceiveOrReset(Socket socket, byte[] buffer)
    {
        try
        {
            return socket.Receive(buffer);
        }
        catch (SocketException exception) when (exception.SocketErrorCode is SocketError.ConnectionReset or SocketError.NotConnected)
        {
            return 0;
        }
    }

    [GeneratedRegex(@"Client connections capped at (?<cap>\d+) \(open-file limit (?<limit>\d+), (?<open>\d+) open at start")]
    private static partial Regex CappedRegex();
}
