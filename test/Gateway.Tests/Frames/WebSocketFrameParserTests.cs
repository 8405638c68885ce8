using Gateway.Frames;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Frames;

public sealed class WebSocketFrameParserTests
{
    private static readonly int[] Lengths = [0, 1, 2, 124, 125, 126, 127, 1000, 65_535, 65_536, 70_000];

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (var seed = 0; seed < 100; seed++)
        {
            data.Add(seed);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Parse_GeneratedSequence_SplitAtEveryByte_ReportsEveryFrameExactly(int seed)
    {
        var (stream, expected) = GenerateSequence(new Random(seed), largePayloads: false);

        // Every single split point, plus byte-at-a-time feeding.
        for (var split = 0; split <= stream.Length; split++)
        {
            AssertParses(stream, expected, [split]);
        }

        AssertParses(stream, expected, Enumerable.Range(1, stream.Length).ToArray());
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Parse_SequenceWithLargePayloads_RandomChunking_ReportsEveryFrameExactly(int seed)
    {
        var random = new Random(seed);
        var (stream, expected) = GenerateSequence(random, largePayloads: true);
        for (var round = 0; round < 25; round++)
        {
            var cuts = Enumerable.Range(0, random.Next(1, 40)).Select(_ => random.Next(0, stream.Length + 1)).Order().ToArray();
            AssertParses(stream, expected, cuts);
        }
    }

    [Fact]
    public void Parse_Every64BitLengthHeaderSplitPoint_ThenPayload_Works()
    {
        var payload = new byte[300];
        new Random(1).NextBytes(payload);
        var frame = WebSocketFrames.Encode(WebSocketOpcode.Binary, payload, mask: true, forceLength64: true);
        // Header is 2 + 8 + 4 = 14 bytes: split inside every byte of it.
        for (var split = 0; split <= 14; split++)
        {
            AssertParses(frame, [(new WebSocketFrameHeader(true, 0, WebSocketOpcode.Binary, true, 0x12345678, 300), payload)], [split]);
        }
    }

    [Fact]
    public void Parse_LengthWithMostSignificantBitSet_StopsWithAnError()
    {
        byte[] frame = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1];
        var parser = new WebSocketFrameParser();
        var handler = new RecordingHandler();

        Assert.False(parser.Parse(frame, ref handler));
        Assert.NotNull(parser.Error);
        Assert.False(parser.Parse(new byte[] { 0x81, 0x00 }, ref handler));
        Assert.Empty(handler.Frames);
    }

    [Fact]
    public void AtFrameBoundary_IsTrueOnlyBetweenFrames()
    {
        var frame = WebSocketFrames.Encode(WebSocketOpcode.Text, "hello"u8, mask: true);
        var parser = new WebSocketFrameParser();
        var handler = new RecordingHandler();
        Assert.True(parser.AtFrameBoundary);
        for (var i = 0; i < frame.Length - 1; i++)
        {
            parser.Parse(frame.AsSpan(i, 1), ref handler);
            Assert.False(parser.AtFrameBoundary);
        }

        parser.Parse(frame.AsSpan(frame.Length - 1), ref handler);
        Assert.True(parser.AtFrameBoundary);
    }

    [Fact]
    public void Parse_RandomBytes_NeverThrowsNorReportsMorePayloadThanFed()
    {
        var random = new Random(42);
        for (var round = 0; round < 2000; round++)
        {
            var data = new byte[random.Next(0, 600)];
            random.NextBytes(data);
            var parser = new WebSocketFrameParser();
            var handler = new CountingHandler();
            var position = 0;
            while (position < data.Length)
            {
                var chunk = random.Next(1, 64);
                var slice = data.AsSpan(position, Math.Min(chunk, data.Length - position));
                if (!parser.Parse(slice, ref handler))
                {
                    break;
                }

                position += slice.Length;
            }

            Assert.True(handler.PayloadBytes <= (ulong)data.Length);
        }
    }

    private static void AssertParses(byte[] stream, List<(WebSocketFrameHeader Header, byte[] Payload)> expected, int[] cuts)
    {
        var parser = new WebSocketFrameParser();
        var handler = new RecordingHandler();
        var start = 0;
        foreach (var cut in cuts.Append(stream.Length))
        {
            if (cut < start)
            {
                continue;
            }

            handler.Base = start;
            Assert.True(parser.Parse(stream.AsSpan(start, cut - start), ref handler));
            start = cut;
        }

        Assert.Null(parser.Error);
        Assert.True(parser.AtFrameBoundary);
        Assert.Equal(expected.Count, handler.Frames.Count);
        long position = 0;
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Header, handler.Frames[i].Header);
            Assert.Equal(expected[i].Payload, handler.Frames[i].Payload);

            // Positions: each frame starts where the previous ended and spans its header and payload exactly.
            var (frameStart, frameEnd) = handler.Positions[i];
            Assert.Equal(position, frameStart);
            var headerLength = WebSocketFrameParser.HeaderLength(stream[frameStart + 1]);
            Assert.Equal(frameStart + headerLength + expected[i].Payload.Length, frameEnd);
            position = frameEnd;
        }

        Assert.Equal(stream.Length, position);
    }

    /// <summary>Fragmented text/binary messages with pings, pongs and a final close interleaved, masked or not.</summary>
    private static (byte[] Stream, List<(WebSocketFrameHeader, byte[])> Frames) GenerateSequence(Random random, bool largePayloads)
    {
        var frames = new List<(WebSocketFrameHeader, byte[])>();
        using var stream = new MemoryStream();
        var masked = random.Next(2) == 0;
        var messages = random.Next(1, 4);
        for (var m = 0; m < messages; m++)
        {
            var fragments = random.Next(1, 4);
            var opcode = random.Next(2) == 0 ? WebSocketOpcode.Text : WebSocketOpcode.Binary;
            for (var f = 0; f < fragments; f++)
            {
                var length = largePayloads ? Lengths[random.Next(Lengths.Length)] : random.Next(0, 130);
                Add(f == 0 ? opcode : WebSocketOpcode.Continuation, length, fin: f == fragments - 1, rsv: (byte)(random.Next(4) == 0 ? 4 : 0));
                if (random.Next(3) == 0)
                {
                    Add(random.Next(2) == 0 ? WebSocketOpcode.Ping : WebSocketOpcode.Pong, random.Next(0, 126), fin: true, rsv: 0);
                }
            }
        }

        Add(WebSocketOpcode.Close, 2 + random.Next(0, 20), fin: true, rsv: 0);
        return (stream.ToArray(), frames);

        void Add(WebSocketOpcode opcode, int length, bool fin, byte rsv)
        {
            var payload = new byte[length];
            random.NextBytes(payload);
            var key = masked ? (uint)random.Next() : 0;
            stream.Write(WebSocketFrames.Encode(opcode, payload, fin, masked, rsv, key));
            frames.Add((new WebSocketFrameHeader(fin, rsv, opcode, masked, key, (ulong)length), payload));
        }
    }

    private struct CountingHandler : IWebSocketFrameHandler
    {
        public ulong PayloadBytes;

        public readonly bool OnFrameHeader(in WebSocketFrameHeader frame, int headerStart) => true;

        public void OnPayload(in WebSocketFrameHeader frame, ReadOnlySpan<byte> payload, ulong offset) => PayloadBytes += (ulong)payload.Length;

        public readonly void OnFrameEnd(in WebSocketFrameHeader frame, int end)
        {
        }
    }
}
