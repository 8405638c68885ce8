using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// A WebSocket backend on a bare TCP listener, for what a Kestrel backend cannot be made to do: it writes its 101
/// and a first text frame (<see cref="Greeting"/>) in one send, so they arrive in one segment, then echoes what it
/// is sent, frame by frame, until the connection ends. After echoing a text frame "fin" it half-closes (a FIN,
/// no close frame) and reads on until the gateway ends the connection.
/// </summary>
public sealed class SocketBackend : IAsyncDisposable
{
    public const string Greeting = "hello with the 101";

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private SocketBackend()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public string Address => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>The request heads the backend received, as text.</summary>
    public List<string> Requests { get; } = [];

    public static SocketBackend Start() => new();

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            _ = ServeAsync(socket);
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using (socket)
        await using (var stream = new NetworkStream(socket))
        {
            try
            {
                var head = new StringBuilder();
                var one = new byte[1];
                while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
                {
                    if (await stream.ReadAsync(one, _stop.Token) == 0)
                    {
                        return;
                    }

                    head.Append((char)one[0]);
                }

                lock (Requests)
                {
                    Requests.Add(head.ToString());
                }

                var key = head.ToString().Split("\r\n").First(line => line.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase))[18..].Trim();
                var accept = WebSocketAccept.For(key);
                var response = Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
                await socket.SendAsync((byte[])[.. response, .. RawFrames.Encode(RawFrame.Text, Encoding.UTF8.GetBytes(Greeting), mask: false)]);
                while (await RawFrames.ReadAsync(stream, _stop.Token) is { } frame)
                {
                    var opcode = frame.Opcode;
                    await stream.WriteAsync(RawFrames.Encode(opcode == RawFrame.Ping ? RawFrame.Pong : opcode, frame.Payload, frame.Fin, mask: false), _stop.Token);
                    if (opcode == RawFrame.Close)
                    {
                        return;
                    }

                    if (opcode == RawFrame.Text && Encoding.UTF8.GetString(frame.Payload) == "fin")
                    {
                        socket.Shutdown(SocketShutdown.Send);
                    }
                }
            }
            catch (Exception exception) when (exception is IOException or OperationCanceledException or SocketException)
            {
                // The gateway or the test ended the connection.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
