using System.Globalization;
using System.Runtime.InteropServices;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>One established TCP connection as the kernel lists it in /proc/net/tcp.</summary>
/// <param name="SendQueue">Bytes written and not yet acknowledged by the peer (tx_queue): what a peer that does not read leaves queued.</param>
/// <param name="ReceiveQueue">Bytes received and not yet read by the socket's owner (rx_queue).</param>
public readonly record struct KernelConnection(int LocalPort, int RemotePort, long SendQueue, long ReceiveQueue, long Inode);

/// <summary>
/// The kernel's own view of the gateway's sockets. A test gateway runs in the test process, so every socket it holds
/// is a descriptor of this process: /proc/net/tcp finds the connection by its ports, /proc/self/fd finds the
/// descriptor by the connection's inode, and getsockopt(2) on it reads what the kernel applied (not what was asked).
/// </summary>
public static class KernelSockets
{
    private const int Established = 1;
    private const int SolSocket = 1;
    private const int SoSndBuf = 7;
    private const int SoRcvBuf = 8;

    /// <summary>The one established connection that <paramref name="match"/> selects (ports are unique on loopback).</summary>
    public static KernelConnection Connection(Func<KernelConnection, bool> match) => Connections().Single(match);

    public static IEnumerable<KernelConnection> Connections()
    {
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (int.Parse(fields[3], NumberStyles.HexNumber) != Established)
                {
                    continue;
                }

                var queues = fields[4].Split(':');
                yield return new KernelConnection(
                    Port(fields[1]),
                    Port(fields[2]),
                    long.Parse(queues[0], NumberStyles.HexNumber),
                    long.Parse(queues[1], NumberStyles.HexNumber),
                    long.Parse(fields[9], CultureInfo.InvariantCulture));
            }
        }
    }

    /// <summary>SO_SNDBUF and SO_RCVBUF as getsockopt(2) reports them (Linux: twice the value set, see socket(7)).</summary>
    public static (int Send, int Receive) BufferSizes(KernelConnection connection)
    {
        var fd = Descriptor(connection.Inode);
        return (GetOption(fd, SoSndBuf), GetOption(fd, SoRcvBuf));
    }

    /// <summary>
    /// Waits until the connection's queues have stopped changing (a flood has filled every buffer on its way and stalled)
    /// and returns that state; the queues are sampled every 100 ms and must hold still for a whole second.
    /// </summary>
    public static async Task<KernelConnection> StalledAsync(Func<KernelConnection, bool> match, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        var last = Connection(match);
        var still = 0;
        while (still < 10)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The connection's queues never settled: last {last}.");
            }

            await Task.Delay(100);
            var now = Connection(match);
            still = now.SendQueue == last.SendQueue && now.ReceiveQueue == last.ReceiveQueue && (now.SendQueue > 0 || now.ReceiveQueue > 0) ? still + 1 : 0;
            last = now;
        }

        return last;
    }

    private static int Descriptor(long inode)
    {
        var target = $"socket:[{inode}]";
        foreach (var path in Directory.EnumerateFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(path).LinkTarget == target)
                {
                    return int.Parse(Path.GetFileName(path), CultureInfo.InvariantCulture);
                }
            }
            catch (IOException)
            {
                // Closed while we looked.
            }
        }

        throw new InvalidOperationException($"No descriptor of this process is {target}.");
    }

    private static int GetOption(int fd, int option)
    {
        var length = sizeof(int);
        if (GetSockOpt(fd, SolSocket, option, out var value, ref length) != 0)
        {
            throw new IOException($"getsockopt({fd}, {option}) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return value;
    }

    [DllImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static extern int GetSockOpt(int fd, int level, int option, out int value, ref int length);

    private static int Port(string address) => int.Parse(address[(address.IndexOf(':') + 1)..], NumberStyles.HexNumber);
}
