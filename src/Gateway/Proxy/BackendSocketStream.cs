using System.Net.Sockets;

namespace Gateway.Proxy;

/// <summary>
/// A lean-path backend connection's socket as a stream. Reads are the socket's own asynchronous receives (a
/// zero-byte read waits for data without a buffer). Writes are tried first as a non-blocking send, which nearly
/// always takes a relayed frame whole: only a write the socket cannot take at once goes through the socket's
/// asynchronous send, whose event-args object (~300 B) the socket then keeps for its life; a session that only ever
/// sends small frames never pays for it.
/// </summary>
internal sealed class BackendSocketStream : Stream
{
    private readonly Socket _socket;

    /// <param name="socket">A connected socket; this stream owns it and makes it non-blocking.</param>
    public BackendSocketStream(Socket socket)
    {
        _socket = socket;
        socket.Blocking = false;
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var sent = _socket.Send(buffer.Span, SocketFlags.None, out var error);
        if (error == SocketError.Success && sent == buffer.Length)
        {
            return default;
        }

        if (error is not (SocketError.Success or SocketError.WouldBlock))
        {
            throw new IOException($"Writing to the backend failed: {error}.", new SocketException((int)error));
        }

        return SendRestAsync(buffer[Math.Max(sent, 0)..], cancellationToken);
    }

    private async ValueTask SendRestAsync(ReadOnlyMemory<byte> rest, CancellationToken cancellationToken)
    {
        try
        {
            while (!rest.IsEmpty)
            {
                rest = rest[await _socket.SendAsync(rest, SocketFlags.None, cancellationToken).ConfigureAwait(false)..];
            }
        }
        catch (SocketException exception)
        {
            throw new IOException($"Writing to the backend failed: {exception.SocketErrorCode}.", exception);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _socket.Dispose();
        }

        base.Dispose(disposing);
    }
}
