using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// A WebSocket client on a bare TCP socket: it completes the HTTP/1.1 upgrade and then sends and reads frames
/// exactly as the test says, answering nothing on its own (no pongs, no close replies) unless told to.
/// </summary>
public sealed class RawClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;

    private RawClient(TcpClient tcp, Stream stream)
    {
        _tcp = tcp;
        Stream = stream;
    }

    public Stream Stream { get; }

    /// <summary>The client's end of the connection (its port tells the gateway's socket for it apart).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_tcp.Client.LocalEndPoint!;

    /// <summary>The gateway's 101 response, status line and headers.</summary>
    public string ResponseHead { get; private init; } = "";

    /// <param name="extraHeaders">Request header lines to add, e.g. <c>Sec-WebSocket-Extensions: permessage-deflate</c>.</param>
    public static async Task<RawClient> ConnectAsync(Uri uri, params string[] extraHeaders)
    {
        var tcp = new TcpClient(AddressFamily.InterNetwork) { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, uri.Port);
        var stream = tcp.GetStream();
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET {uri.PathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:{uri.Port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            + string.Concat(extraHeaders.Select(header => header + "\r\n")) + "\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));

        // Read the response head byte by byte, so not a byte of the first frame is taken with it.
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one) == 0)
            {
                throw new IOException($"Connection closed during the upgrade; got: {head}");
            }

            head.Append((char)one[0]);
        }

        if (!head.ToString().StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
        {
            throw new IOException($"Upgrade refused: {head}");
        }

        return new RawClient(tcp, stream) { ResponseHead = head.ToString() };
    }

    public Task SendAsync(byte[] frame) => Stream.WriteAsync(frame).AsTask();

    /// <summary>The next frame; null when the connection ended (or nothing came within <paramref name="timeout"/>).</summary>
    public async Task<RawFrame?> ReadAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            return await RawFrames.ReadAsync(Stream, cancel.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Half-closes: a FIN on the sending side, the receiving side stays open.</summary>
    public void ShutdownSend() => _tcp.Client.Shutdown(SocketShutdown.Send);

    /// <summary>Ends the connection with a reset (RST) instead of a FIN.</summary>
    public ValueTask ResetAsync()
    {
        _tcp.Client.LingerState = new LingerOption(enable: true, seconds: 0);
        return DisposeAsync();
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
