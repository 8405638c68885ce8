using Gateway.Frames;
using Gateway.Relay;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Relay;

/// <summary>
/// The relay and the gateway writing to the same client stream from different threads: whatever the
/// interleaving, the client must see the backend's frames intact and in order, and the gateway's pings only
/// between them.
/// </summary>
public sealed class FrameInjectionStressTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task PingsFromAnotherThread_WhileTheRelayWritesSplitFrames_LandOnlyBetweenFrames(int seed)
    {
        var random = new Random(seed);
        var registry = TestServices.Registry();
        var session = registry.Open(TestServices.StartInfo(policy: TestServices.Policy(TimeProvider.System)));
        var transport = new SlowTransport(seed);
        var stream = new SessionStream(transport, session, registry.Metrics, TimeProvider.System);

        // The backend's side: 250 frames of random sizes, written in chunks cut anywhere.
        var frames = Enumerable.Range(0, 250).Select(i =>
        {
            var payload = new byte[random.Next(0, 3000)];
            random.NextBytes(payload);
            return WebSocketFrames.Encode(i % 2 == 0 ? WebSocketOpcode.Binary : WebSocketOpcode.Text, payload);
        }).ToList();
        byte[] relayed = [.. frames.SelectMany(f => f)];

        using var stop = new CancellationTokenSource();
        var pinger = Task.Run(async () =>
        {
            var sent = 0;
            while (!stop.IsCancellationRequested)
            {
                if (((ISessionChannel)stream).SendPing(sent + 1))
                {
                    sent++;
                }

                session.RecordInbound(0, new ClientFilterResult { Frames = 1 }, 0);
                await Task.Yield();
            }

            return sent;
        });

        var ends = new List<int>();
        var end = 0;
        foreach (var frame in frames)
        {
            end += frame.Length;
            ends.Add(end);
        }

        var offset = 0;
        while (offset < relayed.Length)
        {
            // Half the writes end exactly at a frame's end (so the gateway may write its ping at once), half anywhere.
            var nextEnd = ends.First(e => e > offset);
            var chunk = random.Next(2) == 0 ? nextEnd - offset : Math.Min(random.Next(1, 5000), relayed.Length - offset);
            await stream.WriteAsync(relayed.AsMemory(offset, chunk));
            offset += chunk;
            if (random.Next(3) == 0)
            {
                // A pause between the backend's writes: the gateway then writes its ping itself, and the relay's
                // next write must wait for it.
                await Task.Delay(1);
            }
        }

        await stop.CancelAsync();
        var pings = await pinger;
        await Eventually(() => !transport.Busy);
        Assert.False(transport.Overlapped, "two writes were in flight on the client transport at once");

        // What the client got: the backend's frames in order, and pings (the gateway's, whole) only between them.
        var parser = new WebSocketFrameParser();
        var handler = new RecordingHandler();
        var received = transport.Received.ToArray();
        Assert.True(parser.Parse(received, ref handler));
        Assert.True(parser.AtFrameBoundary);
        var backendFrames = handler.Frames.Where(f => f.Header.Opcode != WebSocketOpcode.Ping).ToList();
        var pingFrames = handler.Frames.Where(f => f.Header.Opcode == WebSocketOpcode.Ping).ToList();
        Assert.Equal(frames.Count, backendFrames.Count);
        for (var i = 0; i < frames.Count; i++)
        {
            Assert.Equal(frames[i], WebSocketFrames.Encode(backendFrames[i].Header.Opcode, backendFrames[i].Payload));
        }

        Assert.True(pingFrames.Count >= 1, "some pings went out while the relay was writing");
        Assert.InRange(pingFrames.Count, 1, pings);
        Assert.All(pingFrames, p => Assert.Equal(GatewayPing.PayloadLength, p.Payload.Length));
    }

    private static async Task Eventually(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    /// <summary>A client transport whose writes sometimes complete later, on another thread, as a busy socket's do.</summary>
    private sealed class SlowTransport(int seed) : AsyncOnlyStream
    {
        private readonly Random _random = new(seed);
        private readonly Lock _lock = new();
        private int _inFlight;
        private int _overlaps;

        public bool Overlapped => Volatile.Read(ref _overlaps) != 0;

        public MemoryStream Received { get; } = new();

        public bool Busy => Volatile.Read(ref _inFlight) != 0;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(0);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            // Two writers at once would be the bug under test: the stream must serialise them. (Recorded, not
            // asserted here: an exception on the ping's path would only count as a failed write.)
            if (Interlocked.Increment(ref _inFlight) != 1)
            {
                Volatile.Write(ref _overlaps, 1);
            }

            int delay;
            lock (_lock)
            {
                Received.Write(buffer.Span);
                // The gateway's pings always complete later, so the relay often finds one in flight.
                var ping = buffer.Length == GatewayPing.FrameLength && buffer.Span[0] == 0x89;
                delay = ping || _random.Next(4) == 0 ? _random.Next(1, 3) : 0;
            }

            if (delay == 0)
            {
                Interlocked.Decrement(ref _inFlight);
                return default;
            }

            return new ValueTask(CompleteLaterAsync(delay));
        }

        private async Task CompleteLaterAsync(int delay)
        {
            await Task.Delay(delay);
            Interlocked.Decrement(ref _inFlight);
        }
    }
}
