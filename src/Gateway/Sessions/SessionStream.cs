using System.Runtime.CompilerServices;
using Gateway.Telemetry;

namespace Gateway.Sessions;

/// <summary>
/// The upgraded client transport as the relay sees it: reads carry client-to-backend bytes, writes carry
/// backend-to-client bytes. Each completed read or write stamps the session's activity and feeds the frame
/// parser with the relay's own buffer (no copy, no buffer of our own).
/// </summary>
/// <remarks>
/// Zero-byte reads go straight to the transport: YARP issues one before renting its copy buffer, so an idle
/// session holds no buffer while it waits. Reads that complete asynchronously resume on a pooled
/// <see cref="PoolingAsyncValueTaskMethodBuilder{TResult}"/> box, so steady relaying allocates nothing.
/// </remarks>
internal sealed class SessionStream : Stream
{
    private readonly Stream _inner;
    private readonly Session _session;
    private readonly SessionMetrics _metrics;
    private readonly TimeProvider _timeProvider;

    public SessionStream(Stream inner, Session session, SessionMetrics metrics, TimeProvider timeProvider)
    {
        _inner = inner;
        _session = session;
        _metrics = metrics;
        _timeProvider = timeProvider;
    }

    public Session Session => _session;

    public override bool CanRead => _inner.CanRead;

    public override bool CanWrite => _inner.CanWrite;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return _inner.ReadAsync(buffer, cancellationToken);
        }

        var read = _inner.ReadAsync(buffer, cancellationToken);
        if (read.IsCompletedSuccessfully)
        {
            var count = read.Result;
            OnClientData(buffer.Span[..count]);
            return new ValueTask<int>(count);
        }

        return AwaitReadAsync(read, buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(Span<byte> buffer)
    {
        var count = _inner.Read(buffer);
        if (!buffer.IsEmpty)
        {
            OnClientData(buffer[..count]);
        }

        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        OnBackendData(buffer.Span);
        return _inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        OnBackendData(buffer);
        _inner.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush() => _inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> AwaitReadAsync(ValueTask<int> read, Memory<byte> buffer)
    {
        var count = await read;
        OnClientData(buffer.Span[..count]);
        return count;
    }

    private void OnClientData(ReadOnlySpan<byte> data)
    {
        // A zero-length result for a non-empty buffer is the client's end of stream: nothing to account.
        if (data.IsEmpty)
        {
            return;
        }

        var messages = _session.OnClientData(data, _timeProvider.GetTimestamp());
        _metrics.Relayed(_session.RouteId, SessionMetrics.ClientToBackend, data.Length, messages);
    }

    private void OnBackendData(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        var messages = _session.OnBackendData(data, _timeProvider.GetTimestamp());
        _metrics.Relayed(_session.RouteId, SessionMetrics.BackendToClient, data.Length, messages);
    }
}
