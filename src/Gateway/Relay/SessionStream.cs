using System.Buffers;
using System.Runtime.CompilerServices;
using Gateway.Frames;
using Gateway.Sessions;
using Gateway.Telemetry;

namespace Gateway.Relay;

/// <summary>
/// The upgraded client transport as the relay sees it: reads carry client-to-backend bytes, writes carry
/// backend-to-client bytes. Reads go through <see cref="ClientFrameFilter"/> in the relay's own buffer (checked
/// frames only, the gateway's pongs cut out); writes through <see cref="ServerFrameObserver"/>, so the gateway
/// can put its pings and closes between the backend's frames. It is the session's <see cref="ISessionChannel"/>.
/// </summary>
/// <remarks>
/// <para>Zero-byte reads go straight to the transport: YARP issues one before renting its copy buffer, so an idle
/// session holds no buffer while it waits. The exception is the first wake-up after a gateway ping: the data is
/// probably the pong, which must not reach the backend, and a read that finds nothing to pass on cannot return
/// (0 means end of stream) without holding the relay's buffer until the client speaks again. So that one read
/// goes into a 64-byte pooled buffer first, and whatever is left to pass on is handed over from there.</para>
/// <para>Reads that complete asynchronously resume on a pooled <see cref="PoolingAsyncValueTaskMethodBuilder{TResult}"/>
/// box, so steady relaying allocates nothing.</para>
/// </remarks>
internal sealed class SessionStream : FrameInjectingStream, ISessionChannel
{
    /// <summary>Room for a pong to a gateway ping plus what a client sends with it.</summary>
    private const int PeekBufferSize = ClientFrameFilter.MaxHeldBack;

    private readonly Session _session;
    private readonly SessionMetrics _metrics;
    private readonly TimeProvider _timeProvider;
    private readonly IRelayEndHandler? _endHandler;
    private ClientFrameFilter _filter;
    private ServerFrameObserver _observer;
    private BackendStream? _backend;
    private byte[]? _backendClose;

    /// <summary>The gateway's close for the client, waiting to take the place of the backend's (<see cref="SessionCloseOrder.BackendThenClient"/>).</summary>
    private byte[]? _clientCloseAfterBackend;
    private byte[]? _stash;
    private int _stashStart;
    private int _stashEnd;
    private int _disposed;
    private Task? _linger;

    public SessionStream(Stream inner, Session session, SessionMetrics metrics, TimeProvider timeProvider, IRelayEndHandler? endHandler = null, bool compressed = false)
        : base(inner, session, SessionSide.Client)
    {
        _session = session;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _endHandler = endHandler;
        _filter = new ClientFrameFilter(session.Policy.Limits with { AllowCompressed = compressed });
        _observer = new ServerFrameObserver();
        session.AttachChannel(this);
    }

    public Session Session => _session;

    /// <summary>Why the client's stream stopped being passed on (a refused frame, broken framing), if it did.</summary>
    public string? RefusalReason => _filter.Error;

    /// <summary>
    /// Completes when the client transport is done with: at once, except while the farewell frame is still being
    /// written, and after a go-away (<see cref="SessionCloseOrder.BackendFirst"/>), when it waits for the client's close reply (see
    /// <see cref="LingerAsync"/>). The request (on the lean path, the connection) must not end before.
    /// </summary>
    public Task Lingering => _linger ?? Task.CompletedTask;

    /// <summary>The client's stream to the backend has ended here (end of stream, a refused frame, a gateway close).</summary>
    private bool ReadEnded => _session.ClientStreamEnded;

    public override bool CanRead => Inner.CanRead;

    public override bool CanWrite => Inner.CanWrite;

    protected override bool AtFrameBoundary => _observer.AtFrameBoundary;

    /// <summary>The backend leg, once YARP has opened it; the gateway's closes to the backend go through it.</summary>
    internal void AttachBackend(BackendStream backend)
    {
        _backend = backend;
        if (Interlocked.Exchange(ref _backendClose, null) is { } close)
        {
            backend.QueueClose(close);
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return WaitForData(cancellationToken);
        }

        if (_stash is not null)
        {
            return new ValueTask<int>(TakeStash(buffer.Span));
        }

        if (ReadEnded)
        {
            return new ValueTask<int>(0);
        }

        if (buffer.Length < ClientFrameFilter.MaxHeldBack)
        {
            // A reader with a small buffer (a WebSocket reading a frame header, the rest of a control frame): what was
            // held back must fit in front of the new bytes, so the read goes to a pooled buffer and the surplus waits.
            return ReadSmallAsync(buffer, cancellationToken);
        }

        var restored = _filter.Restore(buffer.Span);
        ValueTask<int> read;
        try
        {
            read = Inner.ReadAsync(buffer[restored..], cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            ClientEnded();
            return new ValueTask<int>(0);
        }

        if (read.IsCompletedSuccessfully)
        {
            var length = Accept(buffer.Span, restored, read.Result);
            if (length > 0 || ReadEnded)
            {
                return new ValueTask<int>(length);
            }

            return ReadLoopAsync(buffer, default, hasPending: false, restored: 0, cancellationToken);
        }

        return ReadLoopAsync(buffer, read, hasPending: true, restored, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadSmallAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var rented = ArrayPool<byte>.Shared.Rent(ClientFrameFilter.MaxHeldBack);
        int count;
        try
        {
            count = await ReadAsync(rented.AsMemory(0, ClientFrameFilter.MaxHeldBack), cancellationToken);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(rented);
            throw;
        }

        var taken = Math.Min(count, buffer.Length);
        rented.AsSpan(0, taken).CopyTo(buffer.Span);
        if (taken == count)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
        else
        {
            _stash = rented;
            _stashStart = taken;
            _stashEnd = count;
        }

        return taken;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>
    /// One read of what the transport holds, for a relay that waited for data itself (the lean path): the number of
    /// bytes at the buffer's front to pass on; 0 at the client's end (its end of stream, a failed read, a refused
    /// frame, a gateway close); or -1 when nothing is to go on yet (the data was a pong to the gateway's ping, or the
    /// start of a header held back), so the caller lets go of its buffer and waits again instead of holding it.
    /// </summary>
    internal ValueTask<int> ReadAvailableAsync(Memory<byte> buffer)
    {
        if (ReadEnded)
        {
            return new ValueTask<int>(0);
        }

        var restored = _filter.Restore(buffer.Span);
        ValueTask<int> read;
        try
        {
            read = Inner.ReadAsync(buffer[restored..]);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            ClientEnded();
            return new ValueTask<int>(0);
        }

        return read.IsCompletedSuccessfully
            ? new ValueTask<int>(Available(buffer.Span, restored, read.Result))
            : ReadAvailableAwaitedAsync(read, buffer, restored);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadAvailableAwaitedAsync(ValueTask<int> read, Memory<byte> buffer, int restored)
    {
        int count;
        try
        {
            count = await read;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            ClientEnded();
            return 0;
        }

        return Available(buffer.Span, restored, count);
    }

    private int Available(Span<byte> buffer, int restored, int count)
    {
        var length = Accept(buffer, restored, count);
        return length > 0 || ReadEnded ? length : -1;
    }

    public override int Read(Span<byte> buffer)
    {
        var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            // ReadAsync takes care of a buffer smaller than what may be held back.
            var count = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, count).CopyTo(buffer);
            return count;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <summary>Reads until there is something to pass on or the stream ended (a read that found only our pong).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadLoopAsync(Memory<byte> buffer, ValueTask<int> pending, bool hasPending, int restored, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (!hasPending)
            {
                restored = _filter.Restore(buffer.Span);
                pending = Inner.ReadAsync(buffer[restored..], cancellationToken);
            }

            hasPending = false;
            int count;
            try
            {
                count = await pending;
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                ClientEnded();
                return 0;
            }

            var length = Accept(buffer.Span, restored, count);
            if (length > 0 || ReadEnded)
            {
                return length;
            }
        }
    }

    private ValueTask<int> WaitForData(CancellationToken cancellationToken)
    {
        if (_stash is not null || ReadEnded)
        {
            return new ValueTask<int>(0);
        }

        var wait = Inner.ReadAsync(Memory<byte>.Empty, cancellationToken);
        if (!_session.Policy.Heartbeat || (wait.IsCompletedSuccessfully && !_session.PingOutstanding))
        {
            return wait;
        }

        return WaitForDataAfterPingAsync(wait, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> WaitForDataAfterPingAsync(ValueTask<int> wait, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await wait;
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                ClientEnded();
                return 0;
            }

            if (ReadEnded || !_session.PingOutstanding || await PeekAsync(cancellationToken))
            {
                return 0;
            }

            wait = Inner.ReadAsync(Memory<byte>.Empty, cancellationToken);
        }
    }

    /// <summary>Reads what is there into a small pooled buffer; true when something is left to pass on (or the stream ended).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> PeekAsync(CancellationToken cancellationToken)
    {
        var small = ArrayPool<byte>.Shared.Rent(PeekBufferSize);
        var restored = _filter.Restore(small);
        int count;
        try
        {
            count = await Inner.ReadAsync(small.AsMemory(restored), cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            ArrayPool<byte>.Shared.Return(small);
            ClientEnded();
            return true;
        }
        catch (OperationCanceledException)
        {
            ArrayPool<byte>.Shared.Return(small);
            throw;
        }

        var length = Accept(small, restored, count);
        if (length > 0)
        {
            _stash = small;
            _stashStart = 0;
            _stashEnd = length;
            return true;
        }

        ArrayPool<byte>.Shared.Return(small);
        return ReadEnded;
    }

    private int TakeStash(Span<byte> destination)
    {
        var stash = _stash!;
        var count = Math.Min(destination.Length, _stashEnd - _stashStart);
        stash.AsSpan(_stashStart, count).CopyTo(destination);
        _stashStart += count;
        if (_stashStart == _stashEnd)
        {
            _stash = null;
            ArrayPool<byte>.Shared.Return(stash);
        }

        return count;
    }

    /// <summary>Filters what a read brought in place; returns how many bytes at the buffer's front go on.</summary>
    private int Accept(Span<byte> buffer, int restored, int count)
    {
        if (count == 0)
        {
            // The client's end of stream (a header it never finished goes nowhere).
            ClientEnded();
            return 0;
        }

        var goingAway = _session.GoingAway;
        if (goingAway && !ReadEnded && _filter.OutputAtFrameBoundary)
        {
            // Told to go away between two frames: the backend's close follows what was passed on so far.
            _session.EndClientStream();
        }

        if (ReadEnded)
        {
            // The gateway closed the session: what the client sends now (its close reply) has nowhere to go.
            // After a go-away the frames are still followed, so the client's close reply is recognised.
            if (goingAway)
            {
                Follow(buffer[..(restored + count)]);
            }

            return 0;
        }

        var result = _filter.Filter(buffer[..(restored + count)]);
        _session.RecordInbound(count, result, _timeProvider.GetTimestamp());
        _metrics.Relayed(_session.RouteId, SessionMetrics.ClientToBackend, count, result.Messages);
        RecordClientClose();

        if (result.PongTimestamp != 0)
        {
            _metrics.Pong(_session.RouteId, (double)_session.RoundTripTicks / _timeProvider.TimestampFrequency);
        }

        if (result.Length > 0)
        {
            // Before a refusal queues the backend's close: that close goes after these bytes, not before.
            _backend?.ExpectRelayWrite(endsAtFrameBoundary: _filter.OutputAtFrameBoundary);
        }

        if (result.Rejected)
        {
            Refuse(result.Rejection);
        }
        else if (goingAway && _filter.OutputAtFrameBoundary)
        {
            // Told to go away inside a frame: the frame (with whatever whole frames came with it) is finished,
            // and the backend's close, waiting for a frame boundary, goes after it.
            _session.EndClientStream();
        }

        return result.Length;
    }

    /// <summary>
    /// The client's side ended: end of stream, or a reset. Without a close frame from it, the backend is told with
    /// a close 1001 "client went away" (rather than finding out when it next writes, or never: YARP waits for the
    /// backend's side to end). Either way the session now has a deadline, after which the heartbeat aborts it.
    /// A failed read is reported to the relay as an end of stream, not an error: an error would make YARP tear the
    /// backend leg down at once, possibly before that close frame is out.
    /// </summary>
    internal void EndOfClient() => ClientEnded();

    private void ClientEnded()
    {
        if (!_session.EndClientStream() && _session.ClientGone)
        {
            return;
        }

        _session.MarkClientGone();
        // A client that said goodbye leaves the rest to the backend (its close is relayed); one that vanished gets
        // its backend told (SessionEnds.ClientLost).
        _session.BeginClose(_filter.CloseStatus >= 0 ? SessionCloseReason.ClientClose : SessionCloseReason.ClientLost, _timeProvider.GetTimestamp());
    }

    private void Refuse(in FrameRejection rejection)
    {
        _session.EndClientStream();
        _metrics.FrameRejected(_session.RouteId, rejection.Kind);
        var reason = rejection.Status == FrameRejection.MessageTooBig ? SessionCloseReason.MessageTooBig : SessionCloseReason.ProtocolError;
        _session.BeginClose(reason, _timeProvider.GetTimestamp(), detail: rejection.Reason);
    }

    /// <remarks>
    /// After a refused frame (<see cref="SessionCloseOrder.BackendThenClient"/>) the backend's answer is written up to
    /// where its close frame begins, and the gateway's close goes in its place (queued now, written at that boundary;
    /// nothing is written after a close).
    /// </remarks>
    protected override int ObserveWrite(ReadOnlySpan<byte> data)
    {
        var boundary = _observer.Observe(data, out var messages, out var closeStart);
        _session.RecordOutbound(data.Length, messages, _timeProvider.GetTimestamp());
        _metrics.Relayed(_session.RouteId, SessionMetrics.BackendToClient, data.Length, messages);
        if (_observer.CloseStatus >= 0 && _session.BackendCloseStatus is null)
        {
            _session.RecordBackendClose(_observer.CloseStatus);
        }

        if (closeStart >= 0 && TakeClientCloseAfterBackend() is { } close)
        {
            Queue(close);
            return closeStart;
        }

        return boundary;
    }

    /// <summary>The gateway's close for the client if it is still waiting for the backend's (taken: it goes once).</summary>
    private byte[]? TakeClientCloseAfterBackend() => Interlocked.Exchange(ref _clientCloseAfterBackend, null);

    protected override void OnWriteFailed(Exception exception)
    {
        if (exception is not OperationCanceledException)
        {
            _session.MarkClientGone();
        }
    }

    public bool SendPing(long timestamp)
    {
        if (GatewayCloseWritten || _session.HasEnded || _session.ClientGone)
        {
            return false;
        }

        var frame = ArrayPool<byte>.Shared.Rent(GatewayPing.FrameLength);
        GatewayPing.Write(frame, timestamp);
        // Recorded before the ping can go out: a fast pong must find it outstanding.
        _session.RecordPingSent(timestamp);
        if (!Queue(frame))
        {
            _session.RecordPingSent(0);
            return false;
        }

        return true;
    }

    /// <summary>Carries out a close the session began (<see cref="Session.BeginClose"/>), as its row of the session-end table says.</summary>
    public void Close(SessionEnd end, string? detail)
    {
        switch (end.Order)
        {
            case SessionCloseOrder.Both:
                // What the client sends from now on has nowhere to go: the backend is told the session is over.
                _session.EndClientStream();
                // The client's first: once it is queued, nothing the backend sends (its close reply comes fast) can
                // reach the client ahead of it.
                if (!_session.ClientGone)
                {
                    Queue(end.ClientFrameWith(detail));
                }

                QueueBackendClose(end, detail);
                break;
            case SessionCloseOrder.BackendFirst:
                // The relay's next read decides where the client's stream ends: at once when the bytes passed on so
                // far end between two frames, else at the end of the frame in progress, so the backend never gets a
                // truncated frame (its close waits for a frame boundary that would otherwise never come).
                _session.MarkGoingAway();
                QueueBackendClose(end, detail);
                break;
            case SessionCloseOrder.BackendFirstThenClient:
                _session.MarkGoingAway();
                CloseClientAfterBackend(end, detail);
                QueueBackendClose(end, detail);
                break;
            case SessionCloseOrder.BackendThenClient:
                _session.EndClientStream();
                CloseClientAfterBackend(end, detail);
                QueueBackendClose(end, detail);
                break;
            case SessionCloseOrder.BackendOnly:
                QueueBackendClose(end, detail);
                break;
        }
    }

    /// <summary>
    /// The gateway's close for the client, to take the place of the backend's when it comes; not once the backend's
    /// close has gone to the client: nothing may follow a close frame.
    /// </summary>
    private void CloseClientAfterBackend(SessionEnd end, string? detail)
    {
        if (!_session.ClientGone && _session.BackendCloseStatus is null)
        {
            Volatile.Write(ref _clientCloseAfterBackend, end.ClientFrameWith(detail));
        }
    }

    /// <summary>Tracks frames that go nowhere (after a go-away); true once the client's close frame (or junk) came.</summary>
    private bool Follow(Span<byte> data)
    {
        _filter.Filter(data);
        RecordClientClose();
        return _filter.CloseStatus >= 0 || _filter.Error is not null;
    }

    /// <summary>The client's close frame, once the filter has seen it, goes on the session's record (once).</summary>
    private void RecordClientClose()
    {
        if (_filter.CloseStatus >= 0 && _session.ClientCloseStatus is null)
        {
            _session.RecordClientClose(_filter.CloseStatus);
        }
    }

    public void Abort()
    {
        if (TakeClientCloseAfterBackend() is { } close)
        {
            // The backend did not answer within the close timeout: the client still learns why, then goes.
            Queue(close);
        }

        _endHandler?.AbortClient();

        // The relay may be waiting on the backend (a write a stalled backend does not take), where the client's abort
        // does not reach: the backend leg goes too, as YARP's cancellation takes it on its path (after the close timeout
        // if a close of the gateway's is still queued for it).
        _backend?.OnRelayCancelled();
    }

    /// <summary>
    /// Asked by the backend leg when the relay ends (is cancelled, or disposes it) and no close of the gateway's has
    /// gone to the backend: if the client left without the backend being told, the session begins its close as the
    /// client's loss, which queues the backend's close 1001 "client went away" on that leg. That happens when the
    /// client's connection is aborted (a reset, or a FIN that Kestrel reports as an abort) and YARP cancels the relay
    /// before this stream's read sees the end: an idle session's wait for data goes to the transport directly, so
    /// neither the end nor the cancellation passes through <see cref="ClientEnded"/>.
    /// </summary>
    internal void OnRelayTeardown()
    {
        if (_session.ClientCloseStatus is not null || _session.BackendCloseStatus is not null
            || !(_session.ClientGone || _endHandler?.ClientAborted == true))
        {
            return;
        }

        _session.MarkClientGone();
        // As at the client's end of stream: the session is the client's loss, whatever the backend answers.
        _session.BeginClose(SessionCloseReason.ClientLost, _timeProvider.GetTimestamp());
    }

    /// <summary>How long the gateway waits for a close to be written or answered.</summary>
    internal TimeSpan CloseTimeout => _timeProvider.GetElapsedTime(0, _session.Policy.CloseTimeout);

    internal TimeProvider TimeProvider => _timeProvider;

    private void QueueBackendClose(SessionEnd end, string? detail)
    {
        var backendClose = CloseFrame.ForBackend(end.BackendStatus, end.BackendText.Length == 0 ? detail ?? "" : end.BackendText);
        if (_backend is { } backend)
        {
            backend.QueueClose(backendClose);
        }
        else
        {
            Volatile.Write(ref _backendClose, backendClose);
            if (_backend is { } attached && Interlocked.Exchange(ref _backendClose, null) is { } close)
            {
                attached.QueueClose(close);
            }
        }
    }

    /// <summary>
    /// The relay calls this once both directions have stopped. Before the client transport goes, the end
    /// handler may hand over a last frame for the client (a close frame when the backend vanished without one);
    /// it is written at the transport's pace and the transport disposed after it.
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            if (Interlocked.Exchange(ref _stash, null) is { } stash)
            {
                ArrayPool<byte>.Shared.Return(stash);
            }

            // A close that waited for the backend's goes now (the backend ended without one), else the end handler's.
            var waiting = TakeClientCloseAfterBackend();
            var farewell = GatewayCloseWritten || HasQueuedFrame
                ? ReadOnlyMemory<byte>.Empty
                : waiting is not null && _observer.AtFrameBoundary ? waiting
                : _endHandler?.OnRelayEnded(_session, _observer.AtFrameBoundary) ?? ReadOnlyMemory<byte>.Empty;
            Task? pending = null;
            if (!farewell.IsEmpty && !_session.ClientGone && TryWriteFarewell(farewell, out var write))
            {
                pending = write.AsTask();
            }

            if (_session.GoingAway && _session.ClientCloseStatus is null && !_session.ClientGone)
            {
                _linger = LingerAsync(pending);
            }
            else if (pending is not null)
            {
                _linger = DisposeAfterAsync(pending);
            }
            else
            {
                Inner.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>Writes the frame; true when the write is still in progress (then <paramref name="pending"/> is it).</summary>
    private bool TryWriteFarewell(ReadOnlyMemory<byte> frame, out ValueTask pending)
    {
        try
        {
            pending = Inner.WriteAsync(frame);
            if (!pending.IsCompleted)
            {
                return true;
            }

            pending.GetAwaiter().GetResult();
            pending = default;
            return false;
        }
        catch (Exception exception) when (IsTransportFailure(exception))
        {
            // The client went at the same moment: nothing left to tell it.
            pending = default;
            return false;
        }
    }

    /// <summary>
    /// After a go-away the backend's close reply reaches the client first, and the backend then ends its leg at
    /// once, so the relay is over before the client has answered. Closing the client's connection now would
    /// make its close reply meet a reset (a close that browsers report as not clean), so the transport stays
    /// until the client's close frame arrives or it leaves. The drain bounds the wait: what is still open at
    /// its end is aborted.
    /// </summary>
    private async Task LingerAsync(Task? pending)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(256);
        try
        {
            if (pending is not null)
            {
                await pending;
            }

            while (true)
            {
                var restored = _filter.Restore(buffer);
                var count = await Inner.ReadAsync(buffer.AsMemory(restored));
                if (count == 0 || Follow(buffer.AsSpan(0, restored + count)))
                {
                    break;
                }
            }
        }
        catch (Exception exception) when (IsTransportFailure(exception))
        {
            // The client left, or the drain aborted it.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            Inner.Dispose();
        }
    }

    private async Task DisposeAfterAsync(Task write)
    {
        try
        {
            await write;
        }
        catch (Exception exception) when (IsTransportFailure(exception))
        {
            // As above: the client is gone.
        }
        finally
        {
            Inner.Dispose();
        }
    }
}
