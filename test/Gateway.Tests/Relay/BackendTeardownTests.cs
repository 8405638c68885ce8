using System.IO.Pipelines;
using Gateway.Frames;
using Gateway.Relay;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Relay;

/// <summary>
/// The backend leg at the end of the relay: when YARP cancels the relay because the client's connection was aborted,
/// the backend gets the close 1001 "client went away" before its connection goes, and the connection is kept until
/// the backend has answered (the relay disposes the leg) or the close timeout passes.
/// </summary>
public sealed class BackendTeardownTests
{
    private readonly Pipe _fromClient = new();
    private readonly Pipe _toClient = new();
    private readonly ManualTimeProvider _time = new();
    private readonly RecordingBackend _backend = new();
    private readonly EndHandler _endHandler = new();

    [Fact]
    public void RelayCancelled_AfterTheClientAborted_TellsTheBackend_AndKeepsTheConnectionUntilDisposed()
    {
        using var relay = new CancellationTokenSource();
        var (leg, session) = Open(relay.Token);

        _endHandler.ClientAborted = true;
        relay.Cancel();

        AssertClose(_backend.Written, 1001, SessionEnds.ClientLost.BackendText);
        Assert.False(_backend.Disposed, "the backend's answer is still to come");
        Assert.True(session.ClientGone);
        Assert.Equal(SessionCloseReason.ClientLost, session.GatewayCloseReason);

        leg.Dispose();
        Assert.True(_backend.Disposed);
    }

    [Fact]
    public void RelayCancelled_WithoutAClientAbort_LetsTheConnectionGoAtOnce_WithoutAFrame()
    {
        using var relay = new CancellationTokenSource();
        Open(relay.Token);

        relay.Cancel();

        Assert.Empty(_backend.Written);
        Assert.True(_backend.Disposed);
    }

    [Fact]
    public async Task RelayCancelled_DuringARelayWrite_TheCloseFollowsThatWrite()
    {
        using var relay = new CancellationTokenSource();
        var (leg, _) = Open(relay.Token);
        var frame = WebSocketFrames.Encode(WebSocketOpcode.Text, "last words"u8, mask: true);
        _backend.HoldWrites();
        var write = leg.WriteAsync(frame, relay.Token);

        _endHandler.ClientAborted = true;
        relay.Cancel();
        Assert.Empty(_backend.Written);

        _backend.ReleaseWrites();
        await write;
        Assert.Equal(frame, _backend.Written[..frame.Length]);
        AssertClose(_backend.Written[frame.Length..], 1001, SessionEnds.ClientLost.BackendText);
        Assert.False(_backend.Disposed);
        leg.Dispose();
        Assert.True(_backend.Disposed);
    }

    [Fact]
    public void CloseThatNeverGetsWritten_TheConnectionGoesAfterTheCloseTimeout()
    {
        using var relay = new CancellationTokenSource();
        var (leg, _) = Open(relay.Token);
        _backend.HoldWrites();

        _endHandler.ClientAborted = true;
        relay.Cancel();
        leg.Dispose();
        Assert.False(_backend.Disposed, "the close is still being written");

        _time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.False(_backend.Disposed);
        _time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.True(SpinWait.SpinUntil(() => _backend.Disposed, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Disposed_AfterTheBackendClosed_SendsNothingMore()
    {
        using var relay = new CancellationTokenSource();
        var (leg, session) = Open(relay.Token);
        session.RecordBackendClose(1000);

        _endHandler.ClientAborted = true;
        leg.Dispose();

        Assert.Empty(_backend.Written);
        Assert.True(_backend.Disposed);
    }

    private (BackendStream Leg, Session Session) Open(CancellationToken relayToken)
    {
        var registry = TestServices.Registry(_time);
        var session = registry.Open(TestServices.StartInfo(policy: TestServices.Policy(_time, closeTimeout: 5)));
        var stream = new SessionStream(new Duplex(_fromClient.Reader.AsStream(), _toClient.Writer.AsStream()), session, registry.Metrics, _time, _endHandler);
        var leg = new BackendStream(_backend, stream, relayToken);
        stream.AttachBackend(leg);
        return (leg, session);
    }

    private static void AssertClose(byte[] frame, int status, string reason)
    {
        var parser = new WebSocketFrameParser();
        var handler = new RecordingHandler();
        Assert.True(parser.Parse(frame, ref handler));
        var (header, payload) = Assert.Single(handler.Frames);
        Assert.Equal(WebSocketOpcode.Close, header.Opcode);
        Assert.True(header.Masked);
        Assert.Equal(status, (payload[0] << 8) | payload[1]);
        Assert.Equal(reason, System.Text.Encoding.UTF8.GetString(payload, 2, payload.Length - 2));
    }

    private sealed class EndHandler : IRelayEndHandler
    {
        public bool ClientAborted { get; set; }

        public ReadOnlyMemory<byte> OnRelayEnded(Session session, bool atFrameBoundary) => ReadOnlyMemory<byte>.Empty;

        public void AbortClient()
        {
        }
    }

    /// <summary>A backend connection that records what reaches it, can hold writes, and notes its disposal.</summary>
    private sealed class RecordingBackend : AsyncOnlyStream
    {
        private readonly MemoryStream _written = new();
        private TaskCompletionSource _gate = CompletedGate();

        public byte[] Written
        {
            get
            {
                lock (_written)
                {
                    return _written.ToArray();
                }
            }
        }

        public bool Disposed { get; private set; }

        public void HoldWrites() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void ReleaseWrites() => _gate.TrySetResult();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            => new(Task.Delay(Timeout.Infinite, cancellationToken).ContinueWith(_ => 0, TaskScheduler.Default));

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await _gate.Task.WaitAsync(cancellationToken);
            lock (_written)
            {
                _written.Write(buffer.Span);
            }
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override void Flush()
        {
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }

        private static TaskCompletionSource CompletedGate()
        {
            var gate = new TaskCompletionSource();
            gate.SetResult();
            return gate;
        }
    }

    private sealed class Duplex(Stream reads, Stream writes) : AsyncOnlyStream
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => reads.ReadAsync(buffer, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => writes.WriteAsync(buffer, cancellationToken);

        public override Task FlushAsync(CancellationToken cancellationToken) => writes.FlushAsync(cancellationToken);

        public override void Flush() => writes.Flush();
    }
}
