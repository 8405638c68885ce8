using System.Net.Sockets;

namespace Gateway.Hosting;

/// <summary>
/// The kernel's send and receive buffer limits (SO_SNDBUF, SO_RCVBUF) of one leg's sockets. They bound what a peer
/// that stops reading (or stops sending acknowledgements) can make the gateway's kernel hold for it: Linux autotunes a
/// socket's send buffer up to <c>net.ipv4.tcp_wmem</c>'s maximum (4 MiB by default), and a client that never reads left
/// ~3.5 MiB queued in the gateway's socket, so a thousand of them exhaust the host's TCP memory (<c>net.ipv4.tcp_mem</c>).
/// A fixed size also caps the session's throughput at about size ÷ round-trip time (docs/operations.md).
/// </summary>
/// <remarks>
/// Linux reserves twice the value set, for its bookkeeping (socket(7)); getsockopt and the start-up log report that.
/// Values above <c>net.core.wmem_max</c> / <c>net.core.rmem_max</c> are silently cut to them by the kernel.
/// </remarks>
public sealed class SocketBufferOptions
{
    /// <summary>Leave the size to the kernel's autotuning (<c>net.ipv4.tcp_wmem</c> / <c>tcp_rmem</c>).</summary>
    public const int Autotuned = 0;

    /// <summary>Smallest size: below it every segment is a separate round trip. Linux's own floor is ~4.5 KiB.</summary>
    public const int MinSize = 4 * 1024;

    /// <summary>Largest size: enough for 1 Gbit/s at 130 ms round trip, far past what one WebSocket session needs.</summary>
    public const int MaxSize = 16 * 1024 * 1024;

    /// <summary>SO_SNDBUF in bytes: what the kernel queues for a peer before the gateway's writes wait. 0: autotuned.</summary>
    [SocketBufferSize]
    public int SendBufferSize { get; set; } = Autotuned;

    /// <summary>SO_RCVBUF in bytes: what the kernel accepts from a peer before the gateway reads it; sets the TCP window. 0: autotuned.</summary>
    [SocketBufferSize]
    public int ReceiveBufferSize { get; set; } = Autotuned;

    /// <summary>Before connect or listen: the receive size decides the window scale offered in the handshake.</summary>
    internal void Apply(Socket socket)
    {
        // A size set turns the kernel's autotuning off for that direction of this socket; none set leaves it on.
        if (SendBufferSize != Autotuned)
        {
            socket.SendBufferSize = SendBufferSize;
        }

        if (ReceiveBufferSize != Autotuned)
        {
            socket.ReceiveBufferSize = ReceiveBufferSize;
        }
    }

    /// <summary>
    /// What the kernel makes of these settings, read back from a socket they are applied to (every socket of the leg gets
    /// the same): "65536 (kernel 131072)", or "autotuned".
    /// </summary>
    internal (string Send, string Receive) Describe()
    {
        using var probe = new Socket(SocketType.Stream, ProtocolType.Tcp);
        Apply(probe);
        return (Describe(SendBufferSize, probe.SendBufferSize), Describe(ReceiveBufferSize, probe.ReceiveBufferSize));
    }

    private static string Describe(int configured, int applied)
        => configured == Autotuned ? "autotuned" : FormattableString.Invariant($"{configured} (kernel {applied})");
}
