namespace Gateway.Relay;

/// <summary>
/// The backend leg of a session as the relay sees it: reads carry backend-to-client bytes and pass straight
/// through (zero-byte reads included); writes carry what <see cref="SessionStream"/> let through from the client,
/// and the gateway can put a close frame of its own between them. Where those writes end relative to frame
/// boundaries is known from the client side's filter, which produced them: no second parse.
/// </summary>
internal sealed class BackendStream : FrameInjectingStream
{
    private readonly SessionStream? _client;
    private bool _boundaryAfterWrite = true;
    private volatile bool _atFrameBoundary = true;
    private readonly CancellationToken _relayToken;
    private readonly CancellationTokenRegistration _relayCancellation;
    private int _tornDown;
    private int _disposeRequested;
    private int _innerDisposed;
    private int _settled;

    /// <param name="client">The session's client side, asked what the backend should hear when the relay ends.</param>
    /// <param name="relayToken">The relay's token (YARP's activity token), watched here rather than passed on; see <see cref="Strip"/>.</param>
    public BackendStream(Stream inner, SessionStream? client = null, CancellationToken relayToken = default)
        : base(inner, client?.Session, Sessions.SessionSide.Backend)
    {
        _client = client;
        if (client is not null && relayToken.CanBeCanceled)
        {
            _relayToken = relayToken;
            _relayCancellation = relayToken.UnsafeRegister(static state => ((BackendStream)state!).TearDown(disposing: false), this);
        }
    }

    public override bool CanRead => Inner.CanRead;

    public override bool CanWrite => Inner.CanWrite;

    protected override bool AtFrameBoundary => _atFrameBoundary;

    // HttpClient's HTTP/2 request stream buffers until flushed; an HTTP/1.1 connection stream ignores the flush.
    protected override bool FlushInjectedFrames => true;

    /// <summary>The client side has just handed the relay bytes that it will write here next.</summary>
    internal void ExpectRelayWrite(bool endsAtFrameBoundary)
    {
        _atFrameBoundary = false;
        _boundaryAfterWrite = endsAtFrameBoundary;
    }

    /// <summary>Queues the gateway's (masked) close frame for the backend at the next frame boundary.</summary>
    internal void QueueClose(byte[] frame) => Queue(frame);

    protected override int ObserveWrite(ReadOnlySpan<byte> data) => _boundaryAfterWrite ? data.Length : -1;

    protected override void OnRelayWriteCompleted()
    {
        _atFrameBoundary = _boundaryAfterWrite;
        _client?.Session.RecordBackendWriteDone();
    }

    /// <summary>For the heartbeat: a backend that stops reading is told apart from a client that stops answering.</summary>
    protected override void OnRelayWriteWaiting()
    {
        if (_client is { } client)
        {
            client.Session.RecordBackendWriteWaiting(client.TimeProvider.GetTimestamp());
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => Inner.ReadAsync(buffer, Strip(cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => Inner.ReadAsync(buffer, offset, count, Strip(cancellationToken));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => base.WriteAsync(buffer, Strip(cancellationToken));

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        var flush = Inner.FlushAsync(Strip(cancellationToken));
        if (flush.IsCompleted || _client is null)
        {
            return flush;
        }

        // An HTTP/2 leg's writes go out on the flush, which waits when the stream's window is used up.
        OnRelayWriteWaiting();
        return AwaitFlushAsync(flush);
    }

    private async Task AwaitFlushAsync(Task flush)
    {
        try
        {
            await flush.ConfigureAwait(false);
        }
        finally
        {
            _client?.Session.RecordBackendWriteDone();
        }
    }

    public override int Read(Span<byte> buffer) => Inner.Read(buffer);

    public override int Read(byte[] buffer, int offset, int count) => Inner.Read(buffer, offset, count);

    protected override void OnGatewayFrameWritten(bool close)
    {
        if (close)
        {
            Settle();
        }
    }

    protected override void OnWriteFailed(Exception exception) => Settle();

    /// <summary>The gateway's close is out, or a write failed: nothing more will be written.</summary>
    private void Settle()
    {
        Volatile.Write(ref _settled, 1);
        if (Volatile.Read(ref _disposeRequested) != 0)
        {
            DisposeInner();
        }
    }

    /// <summary>
    /// HttpClient answers a cancelled read or write on a backend connection by disposing the connection there and
    /// then, and YARP cancels the relay when the client's connection is aborted: the backend would get a bare FIN
    /// (or, over HTTP/2, a stream reset) where the close 1001 "client went away" belongs, and a write of the
    /// client's last frame could be cut short. So the relay's token is watched here instead, with one registration
    /// for the session, and the inner reads and writes get none; its cancellation runs <see cref="TearDown"/>,
    /// which ends them in order.
    /// </summary>
    private CancellationToken Strip(CancellationToken token) => _relayToken.CanBeCanceled && token == _relayToken ? CancellationToken.None : token;

    /// <summary>
    /// The lean path's relay stops using this leg (the other direction ended first): what the cancellation of YARP's
    /// relay token does on the YARP path.
    /// </summary>
    internal void OnRelayCancelled() => TearDown(disposing: false);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _relayCancellation.Unregister();
            TearDown(disposing: true);
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// The end of the relay, seen first as its cancellation or as its disposing this leg. If the backend has not
    /// been told anything (see <see cref="SessionStream.OnRelayTeardown"/>), the gateway's close goes out,
    /// after the relay's write under way if there is one. While a close of the gateway's is on its way or
    /// unanswered, the connection is kept: on a cancellation until the backend closes it (its answer ends the
    /// relay's read, then the relay disposes this leg), on disposal until the close is written; at most the
    /// session's close timeout (a timer, for this leg only). Nothing here waits.
    /// </summary>
    private void TearDown(bool disposing)
    {
        if (disposing)
        {
            Volatile.Write(ref _disposeRequested, 1);
        }

        var first = Interlocked.Exchange(ref _tornDown, 1) == 0;
        if (_client is null)
        {
            if (disposing)
            {
                DisposeInner();
            }

            return;
        }

        if (first && !GatewayCloseWritten && !HasQueuedFrame && _boundaryAfterWrite)
        {
            // The backend may still need to hear that the client went away (queued on this leg if so).
            _client.OnRelayTeardown();
        }

        var closing = GatewayCloseWritten || HasQueuedFrame;
        if (!closing)
        {
            // Nothing to wait for: let go now, as HttpClient itself would on the cancellation.
            DisposeInner();
            return;
        }

        if (disposing && Volatile.Read(ref _settled) != 0)
        {
            DisposeInner();
            return;
        }

        if (first)
        {
            _ = DisposeInnerAfterAsync(_client.CloseTimeout, _client.TimeProvider);
        }
    }

    private async Task DisposeInnerAfterAsync(TimeSpan timeout, TimeProvider timeProvider)
    {
        await Task.Delay(timeout, timeProvider).ConfigureAwait(false);
        DisposeInner();
    }

    private void DisposeInner()
    {
        if (Interlocked.Exchange(ref _innerDisposed, 1) == 0)
        {
            Inner.Dispose();
        }
    }
}
