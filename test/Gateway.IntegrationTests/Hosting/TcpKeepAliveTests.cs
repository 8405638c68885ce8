using System.Globalization;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Hosting;

/// <summary>
/// TCP keepalive is armed on accepted client sockets and on backend sockets. Read from the kernel's own
/// table (/proc/net/tcp): timer kind 2 is the keepalive timer, and its expiry is the configured idle time.
/// </summary>
public sealed class TcpKeepAliveTests : IAsyncLifetime
{
    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;

    public async Task InitializeAsync()
    {
        _backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        settings.Route("echo", "/echo", settings.Cluster("echo", _backend.Address));
        settings["Gateway:Server:TcpKeepAlive:Time"] = "00:00:42";
        settings["Gateway:Proxy:TcpKeepAlive:Time"] = "00:00:37";
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task ClientAndBackendSockets_HaveKeepaliveTimersWithConfiguredIdleTime()
    {
        using var socket = await WebSocketClient.ConnectAsync(_gateway.Ws("/echo"));
        await socket.EchoAsync([1], WebSocketMessageType.Binary);

        // The gateway's end of the client connection (local port = public listener) and of the backend
        // connection (remote port = backend). Right after traffic the retransmit timer (kind 1) can still be
        // pending until the last ACK; once the connection is quiet the keepalive timer (kind 2) takes over.
        var clientSide = await QuietConnectionAsync(c => c.LocalPort == _gateway.PublicEndPoint.Port);
        Assert.Equal(2, clientSide.TimerKind);
        Assert.InRange(clientSide.TimerSeconds, 35, 42);

        var backendSide = await QuietConnectionAsync(c => c.RemotePort == _backend.Port);
        Assert.Equal(2, backendSide.TimerKind);
        Assert.InRange(backendSide.TimerSeconds, 30, 37);

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Fact]
    public async Task KeepaliveDisabled_LeavesNoKeepaliveTimer()
    {
        var settings = new GatewaySettings();
        settings.Route("echo", "/echo", settings.Cluster("echo", _backend.Address));
        settings["Gateway:Server:TcpKeepAlive:Enabled"] = "false";
        settings["Gateway:Proxy:TcpKeepAlive:Enabled"] = "false";
        await using var gateway = await GatewayInstance.StartAsync(settings);
        using var socket = await WebSocketClient.ConnectAsync(gateway.Ws("/echo"));
        await socket.EchoAsync([1], WebSocketMessageType.Binary);

        Assert.Equal(0, (await QuietConnectionAsync(c => c.LocalPort == gateway.PublicEndPoint.Port)).TimerKind);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    private static async Task<(int LocalPort, int RemotePort, int State, int TimerKind, double TimerSeconds)> QuietConnectionAsync(
        Func<(int LocalPort, int RemotePort, int State, int TimerKind, double TimerSeconds), bool> match)
    {
        const int Established = 1;
        for (var attempt = 0; ; attempt++)
        {
            var connection = Connections().Single(c => c.State == Established && match(c));
            if (connection.TimerKind != 1 || attempt == 50)
            {
                return connection;
            }

            await Task.Delay(100);
        }
    }

    private static IEnumerable<(int LocalPort, int RemotePort, int State, int TimerKind, double TimerSeconds)> Connections()
    {
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when ...
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // Only 127.0.0.1 to 127.0.0.1, where the gateway, its client and its backend are: a socket of another
                // test from 127.0.0.2 or beyond can have the gateway's port number as its own ephemeral port.
                if (!IsLoopback(fields[1]) || !IsLoopback(fields[2]))
                {
                    continue;
                }

                var timer = fields[5].Split(':');
                yield return (
                    Port(fields[1]),
                    Port(fields[2]),
                    int.Parse(fields[3], NumberStyles.HexNumber),
                    int.Parse(timer[0], NumberStyles.HexNumber),
                    long.Parse(timer[1], NumberStyles.HexNumber) / (double)ClockTicksPerSecond);
            }
        }
    }

    /// <summary>127.0.0.1 as /proc/net/tcp writes it (hex, in the host's byte order), or /proc/net/tcp6 as ::ffff:127.0.0.1 (a dual-mode socket).</summary>
    private static bool IsLoopback(string address)
        => address.StartsWith("0100007F:", StringComparison.Ordinal) || address.StartsWith("0000000000000000FFFF00000100007F:", StringComparison.Ordinal);

    // tm->when is in jiffies as USER_HZ, which is 100 on Linux.
    private const int ClockTicksPerSecond = 100;

    private static int Port(string address) => int.Parse(address[(address.IndexOf(':') + 1)..], NumberStyles.HexNumber);
}
