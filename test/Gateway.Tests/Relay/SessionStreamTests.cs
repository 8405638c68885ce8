using Gateway.Frames;
using Gateway.Relay;
using Gateway.Sessions;
using Gateway.Telemetry;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Relay;

public sealed class SessionStreamTests
{
    [Fact]
    public async Task ZeroByteRead_ReachesTheTransportAsZeroBytes_AndAccountsNothing()
    {
        var transport = new ScriptedStream(WebSocketFrames.Encode(WebSocketOpcode.Text, "hi"u8, mask: true));
        var (stream, session) = Wrap(transport);

        var read = await stream.ReadAsync(Memory<byte>.Empty);

        Assert.Equal(0, read);
        Assert.Equal([0], transport.ReadSizes);
        Assert.Equal(0, session.ClientBytes);
    }

    [Fact]
    public async Task Read_AccountsClientBytes_EndOfStreamAccountsNothing()
    {
        var frame = WebSocketFrames.Encode(WebSocketOpcode.Text, "hello"u8, mask: true);
        var transport = new ScriptedStream(frame) { Repeat = false };
        var (stream, session) = Wrap(transport);
        var buffer = new byte[1024];

        Assert.Equal(frame.Length, await stream.ReadAsync(buffer));
        Assert.Equal(0, await stream.ReadAsync(buffer));

        Assert.Equal(frame.Length, session.ClientBytes);
        Assert.Equal(1, session.ClientMessages);
    }

    [Fact]
    public async Task Write_AccountsBackendBytesBeforePassingThemOn()
    {
        var transport = new ScriptedStream([]);
        var (stream, session) = Wrap(transport);
        var frame = WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[300]);

        await stream.WriteAsync(frame);

        Assert.Equal(frame, transport.Written.ToArray());
        Assert.Equal(frame.Length, session.BackendBytes);
        Assert.Equal(1, session.BackendMessages);
    }

    [Fact]
    public async Task Read_IntoBuffersSmallerThanACloseFrame_StillPassesEveryByteInOrder()
    {
        // A WebSocket reading through the stream (the browser-facing 1013 answer) asks for a few bytes at a time; a
        // close frame may be held back whole in front of the next read (131 bytes), so small reads go through a
        // pooled buffer and the surplus waits for the next one.
        byte[] frames = [.. WebSocketFrames.Encode(WebSocketOpcode.Text, new byte[40], mask: true), .. WebSocketFrames.Close(1000, new string('r', 100), mask: true)];
        var (stream, _) = Wrap(new MemoryStream(frames));
        var received = new List<byte>();
        var buffer = new byte[6];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0 && received.Count < frames.Length)
        {
            received.AddRange(buffer.AsSpan(0, read).ToArray());
        }

        Assert.Equal(frames, received.ToArray());
    }

    [Fact]
    public async Task RelayLoop_WithMetricsCollected_AllocatesNothingPerReadOrWrite()
    {
        // The real metrics pipeline (the prometheus-net bridge) listens, so the metric path is the one production runs.
        var meters = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(meters);
        var frames = Enumerable.Range(0, 4).SelectMany(i => WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[100 + i], mask: true)).ToArray();
        var transport = new ScriptedStream(frames);
        var registry = TestServices.Registry(meters: meters);
        // Heartbeat on, with limits: the path production runs.
        var session = registry.Open(TestServices.StartInfo(policy: TestServices.Policy(TimeProvider.System, limits: new ClientFrameLimits(1 << 20, 1 << 24))));
        var stream = new SessionStream(transport, session, registry.Metrics, TimeProvider.System);
        var buffer = new byte[frames.Length + WebSocketFrameParser.MaxHeaderLength];
        var backendFrame = WebSocketFrames.Encode(WebSocketOpcode.Text, new byte[64]);
        var unexpected = 0;

        // The smallest of several rounds: a one-off allocation the runtime makes on this thread now and then
        // (tiered JIT, a first-use thread static) is not the wrapper's; an allocation per read or write would
        // show in every round as at least 10,000 objects.
        var allocated = Allocations.MinimumPerRound(Relay, warmup: 1000, iterations: 10_000, rounds: 5);
        Assert.Equal(0, allocated);
        Assert.Equal(0, unexpected);
        Assert.Equal((1000L + (5 * 10_000)) * 4, session.ClientMessages);
        Assert.Contains("gateway_relayed_bytes_total", await telemetry.ScrapeAsync(), StringComparison.Ordinal);
        await stream.DisposeAsync();

        // Synchronously completing reads and writes, as on a busy socket. Neither an async frame of the test's
        // own (Debug builds compile those to heap-allocated state machines) nor xunit's Assert (its comparers
        // allocate) runs in the loop, so only the wrapper is measured.
        void Relay()
        {
            var read = stream.ReadAsync(buffer);
            if (!read.IsCompletedSuccessfully || read.Result != frames.Length)
            {
                unexpected++;
            }

            var write = stream.WriteAsync(backendFrame);
            if (!write.IsCompletedSuccessfully)
            {
                unexpected++;
            }

            write.GetAwaiter().GetResult();
        }
    }

    private static (SessionStream Stream, Session Session) Wrap(Stream transport)
    {
        var registry = TestServices.Registry();
        var session = registry.Open(TestServices.StartInfo());
        return (new SessionStream(transport, session, registry.Metrics, TimeProvider.System), session);
    }

    /// <summary>An in-memory transport whose reads complete at once with a fixed script of bytes.</summary>
    private sealed class ScriptedStream(byte[] script) : AsyncOnlyStream
    {
        private bool _served;

        public bool Repeat { get; init; } = true;

        public List<int> ReadSizes { get; } = [];

        public MemoryStream Written { get; } = new();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (ReadSizes.Count < 16)
            {
                ReadSizes.Add(buffer.Length);
            }

            if (buffer.IsEmpty || (_served && !Repeat))
            {
                return ValueTask.FromResult(0);
            }

            _served = true;
            script.CopyTo(buffer);
            return ValueTask.FromResult(script.Length);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Written.Length < 1024)
            {
                Written.Write(buffer.Span);
            }

            return ValueTask.CompletedTask;
        }
    }
}
