using System.Buffers;
using System.Runtime.CompilerServices;
using Gateway.Sessions;
using Gateway.Frames;

namespace Gateway.Relay;

/// <summary>
/// A wrapped stream whose writes come from the relay, and into which the gateway can put frames of its own
/// (a ping, a close) at the next frame boundary of what the relay writes: never inside one of its frames.
/// </summary>
/// <remarks>
/// <para>One writer at a time, by compare-and-swap on a state word (no lock): the relay takes it for each write,
/// the gateway for each frame. A gateway frame that finds the relay writing, or the stream inside a frame, stays
/// queued; the relay writes it after its own bytes, splitting its buffer at the last frame boundary in it if it
/// has to (at the first boundary in it), or the gateway writes it when the relay lets go at a boundary.</para>
/// <para>Once a close frame of the gateway's has gone out, relay writes are dropped: nothing may follow a close.</para>
/// <para>Queued frames: pings are arrays rented from <see cref="ArrayPool{T}.Shared"/> (first byte 0x89, fixed
/// length); closes are exact-size arrays (first byte 0x88). A close replaces a queued ping.</para>
/// </remarks>
internal abstract class FrameInjectingStream : Stream
{
    private const int Idle = 0;
    private const int RelayWriting = 1;
    private const int GatewayWriting = 2;

    private int _writeState;
    private int _relayWaiting;
    private byte[]? _queued;
    private Task? _gatewayWrite;
    private readonly Session? _session;
    private readonly SessionSide _side;
    private int _closedWithoutSession;

    /// <param name="session">The session whose close state records that a close went out on this leg (none in some tests).</param>
    /// <param name="side">Which peer this leg writes to.</param>
    protected FrameInjectingStream(Stream inner, Session? session, SessionSide side)
    {
        Inner = inner;
        _session = session;
        _side = side;
    }

    protected Stream Inner { get; }

    /// <summary>A close frame of the gateway's has been written: the stream carries nothing more.</summary>
    public bool GatewayCloseWritten => _session?.CloseSentTo(_side) ?? Volatile.Read(ref _closedWithoutSession) != 0;

    /// <summary>Everything the relay wrote so far ends between two frames.</summary>
    protected abstract bool AtFrameBoundary { get; }

    /// <summary>Observes relay bytes about to be written; returns the index just past the first frame boundary in them, or -1.</summary>
    protected abstract int ObserveWrite(ReadOnlySpan<byte> data);

    /// <summary>The relay's write did not complete at once: the peer's buffers are full, and it waits.</summary>
    protected virtual void OnRelayWriteWaiting()
    {
    }

    /// <summary>The relay's write completed (or failed).</summary>
    protected virtual void OnRelayWriteCompleted()
    {
    }

    /// <summary>A frame of the gateway's went out; <paramref name="close"/> for a close frame.</summary>
    protected virtual void OnGatewayFrameWritten(bool close)
    {
    }

    /// <summary>A write to the inner stream failed.</summary>
    protected virtual void OnWriteFailed(Exception exception)
    {
    }

    /// <summary>Writes that must be flushed to reach the peer (HttpClient's HTTP/2 request stream buffers).</summary>
    protected virtual bool FlushInjectedFrames => false;

    /// <summary>Queues a frame for the next boundary. Returns false if it cannot go (a close is queued or sent).</summary>
    protected bool Queue(byte[] frame)
    {
        var isClose = frame[0] == 0x88;
        if (GatewayCloseWritten)
        {
            ReturnIfPooled(frame);
            return false;
        }

        if (isClose)
        {
            var previous = Interlocked.Exchange(ref _queued, frame);
            if (previous is not null)
            {
                ReturnIfPooled(previous);
            }
        }
        else if (Interlocked.CompareExchange(ref _queued, frame, null) is not null)
        {
            ReturnIfPooled(frame);
            return false;
        }

        TryWriteQueued();
        return true;
    }

    protected bool HasQueuedFrame => Volatile.Read(ref _queued) is not null;

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (GatewayCloseWritten)
        {
            return default;
        }

        if (Interlocked.CompareExchange(ref _writeState, RelayWriting, Idle) != Idle)
        {
            return WriteAfterGatewayAsync(buffer, cancellationToken);
        }

        return WriteOwned(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        // The relay writes asynchronously; a synchronous caller gets the same rules by waiting.
        var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            buffer.CopyTo(rented);
            WriteAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    private ValueTask WriteOwned(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        var boundary = ObserveWrite(buffer.Span);
        if (boundary >= 0 && HasQueuedFrame)
        {
            return WriteSplitAsync(buffer, boundary, cancellationToken);
        }

        ValueTask write;
        try
        {
            write = Inner.WriteAsync(buffer, cancellationToken);
        }
        catch (Exception exception)
        {
            ReleaseAfterFailure(exception);
            throw;
        }

        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
            ReleaseRelay();
            return default;
        }

        OnRelayWriteWaiting();
        return AwaitRelayWriteAsync(write);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AwaitRelayWriteAsync(ValueTask write)
    {
        try
        {
            await write;
        }
        catch (Exception exception)
        {
            ReleaseAfterFailure(exception);
            throw;
        }

        ReleaseRelay();
    }

    /// <summary>The rare path: the relay's buffer holds a boundary and a gateway frame is waiting for one.</summary>
    private async ValueTask WriteSplitAsync(ReadOnlyMemory<byte> buffer, int boundary, CancellationToken cancellationToken)
    {
        try
        {
            if (boundary > 0)
            {
                await Inner.WriteAsync(buffer[..boundary], cancellationToken);
            }

            if (Interlocked.Exchange(ref _queued, null) is { } frame)
            {
                var close = await WriteFrameAsync(frame, cancellationToken);
                if (close)
                {
                    ReleaseRelay();
                    return;
                }
            }

            if (boundary < buffer.Length)
            {
                await Inner.WriteAsync(buffer[boundary..], cancellationToken);
            }
        }
        catch (Exception exception)
        {
            ReleaseAfterFailure(exception);
            throw;
        }

        ReleaseRelay();
    }

    private async ValueTask WriteAfterGatewayAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        // The gateway is writing a frame of its own; the relay's bytes follow it. While the relay waits, a finished
        // gateway write lets it go first rather than starting the next queued frame (no starving the relay).
        Interlocked.Increment(ref _relayWaiting);
        try
        {
            while (Interlocked.CompareExchange(ref _writeState, RelayWriting, Idle) != Idle)
            {
                if (Volatile.Read(ref _gatewayWrite) is { IsCompleted: false } pending)
                {
                    await pending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
                else
                {
                    await Task.Yield();
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _relayWaiting);
        }

        if (GatewayCloseWritten)
        {
            ReleaseRelay();
            return;
        }

        await WriteOwned(buffer, cancellationToken);
    }

    private void ReleaseRelay()
    {
        OnRelayWriteCompleted();
        // A full fence between letting go and looking for a queued frame: Queue does the opposite order.
        Interlocked.Exchange(ref _writeState, Idle);
        if (HasQueuedFrame)
        {
            TryWriteQueued();
        }
    }

    private void ReleaseAfterFailure(Exception exception)
    {
        OnWriteFailed(exception);
        OnRelayWriteCompleted();
        Interlocked.Exchange(ref _writeState, Idle);
    }

    /// <summary>Writes the queued frame now if nobody is writing and the stream is at a boundary.</summary>
    protected void TryWriteQueued()
    {
        while (HasQueuedFrame)
        {
            if (Interlocked.CompareExchange(ref _writeState, GatewayWriting, Idle) != Idle)
            {
                return; // The relay is writing: it looks again when it lets go.
            }

            if (!AtFrameBoundary || Interlocked.Exchange(ref _queued, null) is not { } frame)
            {
                Interlocked.Exchange(ref _writeState, Idle);
                if (!AtFrameBoundary)
                {
                    return; // The relay's next write carries the boundary.
                }

                continue;
            }

            ValueTask<bool> write;
            try
            {
                write = WriteFrameAsync(frame, CancellationToken.None);
            }
            catch (Exception exception)
            {
                OnWriteFailed(exception);
                Interlocked.Exchange(ref _writeState, Idle);
                return;
            }

            if (!write.IsCompleted)
            {
                var task = FinishGatewayWriteAsync(write);
                Volatile.Write(ref _gatewayWrite, task);
                return;
            }

            try
            {
                write.GetAwaiter().GetResult();
            }
            catch (Exception exception) when (IsTransportFailure(exception))
            {
                OnWriteFailed(exception);
            }

            Interlocked.Exchange(ref _writeState, Idle);
        }
    }

    private async Task FinishGatewayWriteAsync(ValueTask<bool> write)
    {
        try
        {
            await write;
        }
        catch (Exception exception) when (IsTransportFailure(exception))
        {
            OnWriteFailed(exception);
        }

        Interlocked.Exchange(ref _writeState, Idle);
        if (Volatile.Read(ref _relayWaiting) == 0)
        {
            TryWriteQueued();
        }
    }

    /// <summary>Writes one gateway frame (the caller owns the stream); true when it was a close.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> WriteFrameAsync(byte[] frame, CancellationToken cancellationToken)
    {
        var close = frame[0] == 0x88;
        var length = close ? frame.Length : GatewayPing.FrameLength;
        try
        {
            if (close)
            {
                // From here on the relay's writes are dropped, even while this one is under way.
                MarkClosed();
            }

            await Inner.WriteAsync(frame.AsMemory(0, length), cancellationToken);
            if (FlushInjectedFrames)
            {
                await Inner.FlushAsync(cancellationToken);
            }
        }
        finally
        {
            ReturnIfPooled(frame);
        }

        OnGatewayFrameWritten(close);
        return close;
    }

    private void MarkClosed()
    {
        if (_session is { } session)
        {
            session.MarkCloseSent(_side);
        }
        else
        {
            Volatile.Write(ref _closedWithoutSession, 1);
        }
    }

    private static void ReturnIfPooled(byte[] frame)
    {
        if (frame[0] != 0x88)
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    protected static bool IsTransportFailure(Exception exception)
        => exception is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException
            or System.Net.Sockets.SocketException;

    public override void Flush() => Inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => Inner.FlushAsync(cancellationToken);

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
