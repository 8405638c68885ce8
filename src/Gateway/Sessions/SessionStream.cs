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
    private readonly IRelayEndHandler? _endHandler;
    private int _disposed;

    public SessionStream(Stream inner, Session session, SessionMetrics metrics, TimeProvider timeProvider, IRelayEndHandler? endHandler = null)
    {
        _inner = inner;
        _session = session;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _endHandler = endHandler;
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

        ValueTask<int> read;
        try
        {
            read = _inner.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            _session.MarkClientGone();
            throw;
        }

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
        int count;
        try
        {
            count = _inner.Read(buffer);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            _session.MarkClientGone();
            throw;
        }

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
        ValueTask write;
        try
        {
            write = _inner.WriteAsync(buffer, cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            _session.MarkClientGone();
            throw;
        }

        return write.IsCompletedSuccessfully ? write : AwaitWriteAsync(write);
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

    /// <summary>
    /// The relay calls this once both directions have stopped. Before the client transport goes, the end
    /// handler may hand over a last frame for the client (a close frame when the backend vanished without one);
    /// it is written at the transport's pace and the transport disposed after it.
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            var farewell = _endHandler?.OnRelayEnded(_session) ?? ReadOnlyMemory<byte>.Empty;
            if (!farewell.IsEmpty && !_session.ClientGone && TryWriteFarewell(farewell, out var pending))
            {
                _ = DisposeAfterAsync(pending.AsTask());
            }
            else
            {
                _inner.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>Writes the frame; true when the write is still in progress (then <paramref name="pending"/> is it).</summary>
    private bool TryWriteFarewell(ReadOnlyMemory<byte> frame, out ValueTask pending)
    {
        try
        {
            pending = _inner.WriteAsync(frame);
            if (!pending.IsCompleted)
            {
                return true;
            }

            pending.GetAwaiter().GetResult();
            pending = default;
            return false;
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // The client went at the same moment: nothing left to tell it.
            pending = default;
            return false;
        }
    }

    private async Task DisposeAfterAsync(Task write)
    {
        try
        {
            await write;
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // As above: the client is gone.
        }
        finally
        {
            _inner.Dispose();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> AwaitReadAsync(ValueTask<int> read, Memory<byte> buffer)
    {
        int count;
        try
        {
            count = await read;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            _session.MarkClientGone();
            throw;
        }

        OnClientData(buffer.Span[..count]);
        return count;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AwaitWriteAsync(ValueTask write)
    {
        try
        {
            await write;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            _session.MarkClientGone();
            throw;
        }
    }

    private void OnClientData(ReadOnlySpan<byte> data)
    {
        // A zero-length result for a non-empty buffer is the client's end of stream: nothing to account.
        if (data.IsEmpty)
        {
            _session.MarkClientGone();
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

/// <summary>Told when a session's relay has stopped, before the client transport is disposed.</summary>
internal interface IRelayEndHandler
{
    /// <summary>A last frame for the client (e.g. a close frame), or empty for none.</summary>
    ReadOnlyMemory<byte> OnRelayEnded(Session session);
}
