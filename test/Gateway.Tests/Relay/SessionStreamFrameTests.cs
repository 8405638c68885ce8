using System.IO.Pipelines;
using Gateway.Frames;
using Gateway.Relay;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Relay;

/// <summary>
/// The session stream as the gateway's channel: pings and closes put between the backend's frames, the pongs to
/// its pings cut out of the client's stream, refused frames answered on both legs. Real pipes stand in for the
/// client connection and the backend leg.
/// </summary>
public sealed class SessionStreamFrameTests
{
    private readonly Pipe _fromClient = new();
    private readonly Pipe _toClient = new();
    private readonly MemoryStream _toBackend = new();
    private readonly SessionRegistry _registry = TestServices.Registry();
    private BackendStream _backendLeg = null!;

    [Fact]
    public async Task Ping_WhileTheBackendIsInsideAFrame_WaitsForItsEnd()
    {
        var (stream, session) = Open();
        var first = WebSocketFrames.Encode(WebSocketOpcode.Binary, Enumerable.Range(0, 300).Select(i => (byte)i).ToArray());
        var second = WebSocketFrames.Encode(WebSocketOpcode.Text, "after"u8);

        await stream.WriteAsync(first.AsMemory(0, 100));
        Assert.True(((ISessionChannel)stream).SendPing(4242));
        await stream.WriteAsync((byte[])[.. first.AsSpan(100), .. second]);

        var received = await ReadToClientAsync(first.Length + GatewayPing.FrameLength + second.Length);
        Assert.Equal(first, received[..first.Length]);
        Assert.Equal(Ping(4242), received[first.Length..(first.Length + GatewayPing.FrameLength)]);
        Assert.Equal(second, received[(first.Length + GatewayPing.FrameLength)..]);
        Assert.True(session.PingOutstanding);
    }

    [Fact]
    public async Task Ping_WhenNothingIsBeingWritten_GoesOutAtOnce()
    {
        var (stream, _) = Open();
        Assert.True(((ISessionChannel)stream).SendPing(7));
        Assert.Equal(Ping(7), await ReadToClientAsync(GatewayPing.FrameLength));
    }

    [Fact]
    public async Task PongToOurPing_IsConsumed_TheRelaysWaitForDataEndsOnlyWithSomethingToPassOn()
    {
        var (stream, session) = Open();
        ((ISessionChannel)stream).SendPing(TimeProvider.System.GetTimestamp());
        await ReadToClientAsync(GatewayPing.FrameLength);

        // The relay waits for data (zero-byte read) as YARP does; the pong arrives first.
        var wait = stream.ReadAsync(Memory<byte>.Empty).AsTask();
        await WriteFromClientAsync(Pong(session.PingSentTimestamp));
        await Task.Delay(100);
        Assert.False(wait.IsCompleted);
        Assert.False(session.PingOutstanding);
        Assert.True(session.RoundTripTicks > 0);

        var text = WebSocketFrames.Encode(WebSocketOpcode.Text, "hello"u8, mask: true);
        await WriteFromClientAsync(text);
        Assert.Equal(0, await wait.WaitAsync(TimeSpan.FromSeconds(5)));

        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer);
        Assert.Equal(text, buffer[..read]);
    }

    [Fact]
    public async Task ForeignPingsAndPongs_PassUntouched()
    {
        var (stream, _) = Open();
        byte[] control = [.. WebSocketFrames.Encode(WebSocketOpcode.Ping, "backend?"u8, mask: true), .. WebSocketFrames.Encode(WebSocketOpcode.Pong, "123456789012"u8, mask: true)];
        await WriteFromClientAsync(control);

        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer);
        Assert.Equal(control, buffer[..read]);
    }

    [Fact]
    public async Task RefusedFrame_Client1002WithReason_Backend1001Masked_NothingOfItPasses()
    {
        var (stream, session) = Open();
        var good = WebSocketFrames.Encode(WebSocketOpcode.Text, "ok"u8, mask: true);
        await WriteFromClientAsync([.. good, .. WebSocketFrames.Encode(WebSocketOpcode.Text, "unmasked"u8)]);

        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer);
        Assert.Equal(good, buffer[..read]);
        // The relay writes what it read to the backend leg; the gateway's close goes after it, never before.
        await _backendLeg.WriteAsync(buffer.AsMemory(0, read));
        Assert.Equal(good, _toBackend.ToArray()[..good.Length]);
        Assert.Equal(0, await stream.ReadAsync(buffer));

        // The backend is told first; its answer to "ok" still reaches the client, and in place of its close reply the
        // client gets the gateway's 1002 with the rule (the Autobahn finding: nothing the backend sent is lost).
        Assert.Equal(SessionCloseReason.ProtocolError, session.GatewayCloseReason);
        AssertBackendGotClose(1001, "unmasked client frame");
        var answer = WebSocketFrames.Encode(WebSocketOpcode.Text, "ok"u8);
        await stream.WriteAsync((byte[])[.. answer, .. WebSocketFrames.Close(1001, "bye")]);
        var expected = (byte[])[.. answer, .. CloseFrame.ForClient(1002, "unmasked client frame")];
        Assert.Equal(expected, await ReadToClientAsync(expected.Length));
        await stream.WriteAsync(WebSocketFrames.Encode(WebSocketOpcode.Text, "after the close"u8));
        await _toClient.Writer.CompleteAsync();
        Assert.True((await _toClient.Reader.ReadAsync()).Buffer.IsEmpty);
    }

    [Fact]
    public async Task RefusedFrame_TheBackendsCloseSplitAtItsFirstByte_IsStillReplaced()
    {
        var (stream, session) = Open();
        await WriteFromClientAsync(WebSocketFrames.Encode(WebSocketOpcode.Text, "unmasked"u8));
        Assert.Equal(0, await stream.ReadAsync(new byte[4096]));

        var answer = WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[10]);
        var backendClose = WebSocketFrames.Close(1001, "bye");
        await stream.WriteAsync((byte[])[.. answer, backendClose[0]]);
        await stream.WriteAsync(backendClose.AsMemory(1));
        var expected = (byte[])[.. answer, .. CloseFrame.ForClient(1002, "unmasked client frame")];
        Assert.Equal(expected, await ReadToClientAsync(expected.Length));
        Assert.Equal(SessionCloseReason.ProtocolError, session.GatewayCloseReason);
    }

    [Fact]
    public async Task RefusedFrame_ABackendThatEndsWithoutAClose_TheClientStillGetsTheGatewaysClose()
    {
        var (stream, _) = Open();
        await WriteFromClientAsync(WebSocketFrames.Encode(WebSocketOpcode.Text, "unmasked"u8));
        Assert.Equal(0, await stream.ReadAsync(new byte[4096]));

        stream.Dispose();
        Assert.Equal(CloseFrame.ForClient(1002, "unmasked client frame"), await ReadToClientAsync(4 + "unmasked client frame".Length));
    }

    [Fact]
    public async Task OversizedFrame_Client1009_Backend1001()
    {
        var (stream, session) = Open(new ClientFrameLimits(MaxFrameSize: 1024, MaxMessageSize: 4096));
        await WriteFromClientAsync(WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[1025], mask: true));

        var buffer = new byte[4096];
        Assert.Equal(0, await stream.ReadAsync(buffer));

        Assert.Equal(SessionCloseReason.MessageTooBig, session.GatewayCloseReason);
        AssertBackendGotClose(1001, "frame too big");
        await stream.WriteAsync(WebSocketFrames.Close(1001));
        Assert.Equal(CloseFrame.ForClient(1009, "frame too big"), await ReadToClientAsync(4 + "frame too big".Length));
    }

    [Fact]
    public async Task GatewayClose_BothLegsGetACloseFrame_ThenTheRelayCarriesNothingMore()
    {
        var (stream, session) = Open();
        Assert.True(session.BeginClose(SessionCloseReason.IdleTimeout, 0));

        Assert.Equal(CloseFrame.ForClient(1001, "idle timeout"), await ReadToClientAsync(4 + "idle timeout".Length));
        AssertBackendGotClose(1001, "idle timeout");

        // The backend's close reply, and anything after, does not follow the gateway's close to the client.
        await stream.WriteAsync(WebSocketFrames.Close(1001));
        await _toClient.Writer.CompleteAsync();
        var rest = await _toClient.Reader.ReadAsync();
        Assert.True(rest.Buffer.IsEmpty);

        await WriteFromClientAsync(WebSocketFrames.Close(1001, mask: true));
        Assert.Equal(0, await stream.ReadAsync(new byte[4096]));
    }

    [Fact]
    public async Task GoAway_InsideAClientFrame_LetsTheFrameFinish_ThenTheBackendGetsItsClose()
    {
        var (stream, session) = Open();
        var frame = WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[1000], mask: true);
        var after = WebSocketFrames.Encode(WebSocketOpcode.Text, "too late"u8, mask: true);
        var buffer = new byte[4096];

        await WriteFromClientAsync(frame[..300]);
        var read = await stream.ReadAsync(buffer);
        await _backendLeg.WriteAsync(buffer.AsMemory(0, read));
        Assert.True(session.BeginClose(SessionCloseReason.Drain, 0));
        Assert.Equal(300, _toBackend.Length);

        await WriteFromClientAsync(frame[300..]);
        read = await stream.ReadAsync(buffer);
        await _backendLeg.WriteAsync(buffer.AsMemory(0, read));
        Assert.Equal(frame, _toBackend.ToArray()[..frame.Length]);
        AssertBackendGotClose(1001, "going away");

        // The client's stream ends there: a frame it sends after that goes nowhere.
        await WriteFromClientAsync(after);
        Assert.Equal(0, await stream.ReadAsync(buffer));
        Assert.Equal(frame.Length + 4 + "going away".Length + 4, _toBackend.Length);
    }

    [Fact]
    public async Task GoAway_BetweenFrames_ClosesTheBackendAtOnce_AndPassesNothingMore()
    {
        var (stream, session) = Open();
        var frame = WebSocketFrames.Encode(WebSocketOpcode.Text, "accepted"u8, mask: true);
        var buffer = new byte[4096];
        await WriteFromClientAsync(frame);
        var read = await stream.ReadAsync(buffer);
        await _backendLeg.WriteAsync(buffer.AsMemory(0, read));

        Assert.True(session.BeginClose(SessionCloseReason.Drain, 0));
        AssertBackendGotClose(1001, "going away");

        await WriteFromClientAsync(WebSocketFrames.Encode(WebSocketOpcode.Text, "in flight"u8, mask: true));
        Assert.Equal(0, await stream.ReadAsync(buffer));
        Assert.Equal(frame, _toBackend.ToArray()[..frame.Length]);
    }

    private (SessionStream Stream, Session Session) Open(ClientFrameLimits? limits = null)
    {
        var session = _registry.Open(TestServices.StartInfo(policy: TestServices.Policy(TimeProvider.System, limits: limits ?? ClientFrameLimits.Unlimited)));
        var stream = new SessionStream(new Duplex(_fromClient.Reader.AsStream(), _toClient.Writer.AsStream()), session, _registry.Metrics, TimeProvider.System);
        _backendLeg = new BackendStream(_toBackend);
        stream.AttachBackend(_backendLeg);
        return (stream, session);
    }

    private async Task WriteFromClientAsync(byte[] bytes)
    {
        await _fromClient.Writer.WriteAsync(bytes);
    }

    private async Task<byte[]> ReadToClientAsync(int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (true)
        {
            var result = await _toClient.Reader.ReadAsync(timeout.Token);
            if (result.Buffer.Length >= count)
            {
                var bytes = System.Buffers.BuffersExtensions.ToArray(result.Buffer.Slice(0, count));
                _toClient.Reader.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }

            _toClient.Reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private void AssertBackendGotClose(int status, string reason)
    {
        var frame = _toBackend.ToArray();
        var parser = new WebSocketFrameParser();
        var handler = new RecordingHandler();
        Assert.True(parser.Parse(frame, ref handler));
        Assert.True(parser.AtFrameBoundary);
        var (header, payload) = handler.Frames[^1];
        Assert.Equal(WebSocketOpcode.Close, header.Opcode);
        Assert.True(header.Masked, "the gateway is the backend's client: its frames are masked");
        Assert.Equal(status, (payload[0] << 8) | payload[1]);
        Assert.Equal(reason, System.Text.Encoding.UTF8.GetString(payload, 2, payload.Length - 2));
    }

    private static byte[] Ping(long timestamp)
    {
        var frame = new byte[GatewayPing.FrameLength];
        GatewayPing.Write(frame, timestamp);
        return frame;
    }

    private static byte[] Pong(long timestamp)
        => WebSocketFrames.Encode(WebSocketOpcode.Pong, Ping(timestamp).AsSpan(2), mask: true, maskKey: 0x01020304);

    /// <summary>Reads from one pipe, writes to another: a client connection seen from the gateway.</summary>
    private sealed class Duplex(Stream reads, Stream writes) : AsyncOnlyStream
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => reads.ReadAsync(buffer, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => writes.WriteAsync(buffer, cancellationToken);

        public override Task FlushAsync(CancellationToken cancellationToken) => writes.FlushAsync(cancellationToken);

        public override void Flush() => writes.Flush();
    }
}
