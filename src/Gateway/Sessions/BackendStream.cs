namespace Gateway.Sessions;

/// <summary>
/// The backend leg of a session as the relay sees it: reads carry backend-to-client bytes and pass straight
/// through (zero-byte reads included); writes carry what <see cref="SessionStream"/> let through from the client,
/// and the gateway can put a close frame of its own between them. Where those writes end relative to frame
/// boundaries is known from the client side's filter, which produced them: no second parse.
/// </summary>
internal sealed class BackendStream : FrameInjectingStream
{
    private bool _boundaryAfterWrite = true;
    private volatile bool _atFrameBoundary = true;

    public BackendStream(Stream inner)
        : base(inner)
    {
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

    protected override void OnRelayWriteCompleted() => _atFrameBoundary = _boundaryAfterWrite;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => Inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => Inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(Span<byte> buffer) => Inner.Read(buffer);

    public override int Read(byte[] buffer, int offset, int count) => Inner.Read(buffer, offset, count);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
