using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// A WebSocket backend that accepts every upgrade and then never reads again: the backend that stopped reading (a
/// deadlock, a full queue, a GC pause that never ends). Its sockets keep a small receive buffer, so what the gateway
/// sends it fills the kernel's buffers quickly, and are held open until the backend is disposed.
/// </summary>
public sealed class StalledBackend : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Socket> _accepted = [];
    private readonly Task _accepting;

    private StalledBackend()
    {
        _listener = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1024);
        _accepting = AcceptAsync();
    }

    public string Address => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndPoint!).Port}";

    /// <summary>Upgrades answered with 101.</summary>
    public int Upgraded => Volatile.Read(ref _upgraded);

    private int _upgraded;

    public static StalledBackend Start() => new();

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _accepted.Add(socket);
            _ = HandshakeAsync(socket);
        }
    }

    private async Task HandshakeAsync(Socket socket)
    {
        try
        {
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await socket.ReceiveAsync(one, _stop.Token) == 0)
                {
                    return;
                }

                head.Append((char)one[0]);
            }

            var key = head.ToString().Split("\r\n").First(line => line.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase))[18..].Trim();
            var accept = WebSocketAccept.For(key);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"), _stop.Token);
            Interlocked.Increment(ref _upgraded);

            // And nothing more is read.
        }
        catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        await _accepting;
        foreach (var socket in _accepted)
        {
            socket.Dispose();
        }

        _stop.Dispose();
    }
}
