using System.Net;
using System.Net.Sockets;
using Gateway.Hosting;

namespace Gateway.Proxy;

/// <summary>How every backend socket is made, for HttpClient's connections and the lean connector's alike.</summary>
internal static class BackendSockets
{
    /// <summary>A connected socket (no Nagle delay, TCP keepalive and buffer sizes as configured) as a stream that owns it.</summary>
    public static async ValueTask<Stream> ConnectAsync(EndPoint endPoint, TcpKeepAliveOptions keepAlive, SocketBufferOptions buffers, CancellationToken cancellationToken)
        => new NetworkStream(await ConnectSocketAsync(endPoint, keepAlive, buffers, cancellationToken), ownsSocket: true);

    /// <summary>The same socket, connected, for a caller that makes its own stream of it.</summary>
    public static async ValueTask<Socket> ConnectSocketAsync(EndPoint endPoint, TcpKeepAliveOptions keepAlive, SocketBufferOptions buffers, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            keepAlive.Apply(socket);
            // Before connect: the receive size decides the window scale offered in the SYN.
            buffers.Apply(socket);
            await socket.ConnectAsync(endPoint, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
