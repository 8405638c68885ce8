using Gateway.Frames;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Frames;

/// <summary>
/// The client-to-backend filter, driven exactly as the session stream drives it: held-back bytes restored at
/// the front of each buffer, new bytes after them, the front of the buffer passed on.
/// </summary>
public sealed class ClientFrameFilterTests
{
    private static readonly ClientFrameLimits Limits = new(MaxFrameSize: 1000, MaxMessageSize: 2500);

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (var seed = 0; seed < 200; seed++)
        {
            data.Add(seed);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Filter_ValidSequenceWithOurPongs_SplitAtEveryByte_PassesEverythingButOurPongs(int seed)
    {
        var random = new Random(seed);
        var (input, expected, pongs) = Generate(random);

        for (var split = 0; split <= input.Length; split++)
        {
            var run = Run(input, [split]);
            Assert.Equal(expected, run.Output);
            Assert.Equal(pongs.Count, run.PongCount);
            Assert.All(run.Pongs, timestamp => Assert.Contains(timestamp, pongs));
            Assert.True(run.Rejection.IsEmpty);
        }

        // Byte at a time, every pong is seen on its own: each timestamp, in order.
        var bytewise = Run(input, Enumerable.Range(1, input.Length).ToArray());
        Assert.Equal(expected, bytewise.Output);
        Assert.Equal(pongs, bytewise.Pongs);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Filter_ValidSequence_RandomChunking_PassesItAndEndsAtABoundary(int seed)
    {
        var random = new Random(seed + 1000);
        var (input, expected, _) = Generate(random);
        for (var round = 0; round < 30; round++)
        {
            var cuts = Enumerable.Range(0, random.Next(1, 30)).Select(_ => random.Next(0, input.Length + 1)).Order().ToArray();
            var run = Run(input, cuts);
            Assert.Equal(expected, run.Output);
            Assert.True(run.Filter.OutputAtFrameBoundary);
        }
    }

    [Fact]
    public void Filter_SomebodyElsesPong_OfTheSameLength_PassesUntouched_AtEverySplit()
    {
        var payload = new byte[GatewayPing.PayloadLength];
        payload[0] = (byte)~GatewayPing.KeyByte(0);
        var foreign = WebSocketFrames.Encode(WebSocketOpcode.Pong, payload, mask: true);
        var almost = OurPong(42);
        // Same key start, then a different byte: still ours by the first four bytes only if all four match.
        almost[6 + 3] ^= 0x55;
        byte[] input = [.. Text("a"), .. foreign, .. almost, .. Text("b")];

        for (var split = 0; split <= input.Length; split++)
        {
            var run = Run(input, [split]);
            Assert.Equal(input, run.Output);
            Assert.Empty(run.Pongs);
        }
    }

    [Fact]
    public void Filter_OurPong_RecordsTheTimestampItCarries()
    {
        var run = Run([.. OurPong(123_456_789)], []);
        Assert.Empty(run.Output);
        Assert.Equal([123_456_789L], run.Pongs);
    }

    public static TheoryData<string, int, string> BadFrames() => new()
    {
        { "unmasked", 1002, "unmasked" },
        { "rsv1", 1002, "reserved_bits" },
        { "opcode3", 1002, "unknown_opcode" },
        { "opcodeB", 1002, "unknown_opcode" },
        { "fragmentedPing", 1002, "bad_control_frame" },
        { "longPing", 1002, "bad_control_frame" },
        { "closeOneByte", 1002, "bad_control_frame" },
        { "orphanContinuation", 1002, "bad_fragmentation" },
        { "interleavedMessage", 1002, "bad_fragmentation" },
        { "bigFrame", 1009, "frame_too_big" },
        { "bigMessage", 1009, "message_too_big" },
        { "length64TopBit", 1002, "bad_length" },
    };

    [Theory]
    [MemberData(nameof(BadFrames))]
    public void Filter_BadFrame_IsRefused_NothingOfItPasses_WhatCameBeforeDoes(string kind, int status, string label)
    {
        byte[] before = [.. Text("ok"), .. WebSocketFrames.Encode(WebSocketOpcode.Ping, "p"u8, mask: true)];
        byte[] bad = kind switch
        {
            "unmasked" => WebSocketFrames.Encode(WebSocketOpcode.Text, "x"u8),
            "rsv1" => WebSocketFrames.Encode(WebSocketOpcode.Text, "x"u8, mask: true, rsv: 4),
            "opcode3" => WebSocketFrames.Encode((WebSocketOpcode)3, "x"u8, mask: true),
            "opcodeB" => WebSocketFrames.Encode((WebSocketOpcode)0xB, "x"u8, mask: true),
            "fragmentedPing" => WebSocketFrames.Encode(WebSocketOpcode.Ping, "x"u8, fin: false, mask: true),
            "longPing" => WebSocketFrames.Encode(WebSocketOpcode.Ping, new byte[126], mask: true),
            "closeOneByte" => WebSocketFrames.Encode(WebSocketOpcode.Close, [3], mask: true),
            "orphanContinuation" => WebSocketFrames.Encode(WebSocketOpcode.Continuation, "x"u8, mask: true),
            "interleavedMessage" => [.. WebSocketFrames.Encode(WebSocketOpcode.Text, "a"u8, fin: false, mask: true), .. WebSocketFrames.Encode(WebSocketOpcode.Text, "b"u8, mask: true)],
            "bigFrame" => WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[1001], mask: true),
            "bigMessage" =>
            [
                .. WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[1000], fin: false, mask: true),
                .. WebSocketFrames.Encode(WebSocketOpcode.Continuation, new byte[1000], fin: false, mask: true),
                .. WebSocketFrames.Encode(WebSocketOpcode.Continuation, new byte[501], mask: true),
            ],
            "length64TopBit" => [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        // What passes before the refusal: the good frames, plus the good start of a message that breaks later.
        var passes = kind switch
        {
            "interleavedMessage" => (byte[])[.. before, .. WebSocketFrames.Encode(WebSocketOpcode.Text, "a"u8, fin: false, mask: true)],
            "bigMessage" => [.. before, .. WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[1000], fin: false, mask: true), .. WebSocketFrames.Encode(WebSocketOpcode.Continuation, new byte[1000], fin: false, mask: true)],
            _ => before,
        };
        byte[] input = [.. before, .. bad, .. Text("never")];

        for (var split = 0; split <= input.Length; split += kind is "bigFrame" or "bigMessage" ? 37 : 1)
        {
            var run = Run(input, [split]);
            Assert.Equal(status, run.Rejection.Status);
            Assert.Equal(label, run.Rejection.Kind);
            Assert.False(string.IsNullOrEmpty(run.Rejection.Reason));
            if (kind != "length64TopBit")
            {
                Assert.Equal(passes, run.Output);
            }
            else
            {
                // The framing cannot be followed: at most the good frames before it pass, never a byte of it.
                Assert.True(run.Output.Length <= before.Length);
                Assert.Equal(before.AsSpan(0, run.Output.Length).ToArray(), run.Output);
            }
        }
    }

    [Fact]
    public void Filter_Rsv1_AllowedOnAMessagesFirstFrame_OnlyWhenDeflateWasNegotiated()
    {
        byte[] compressed = [.. WebSocketFrames.Encode(WebSocketOpcode.Text, "a"u8, fin: false, mask: true, rsv: 4), .. WebSocketFrames.Encode(WebSocketOpcode.Continuation, "b"u8, mask: true)];
        var run = Run(compressed, [], Limits with { AllowCompressed = true });
        Assert.True(run.Rejection.IsEmpty);
        Assert.Equal(compressed, run.Output);

        byte[] onContinuation = [.. WebSocketFrames.Encode(WebSocketOpcode.Text, "a"u8, fin: false, mask: true), .. WebSocketFrames.Encode(WebSocketOpcode.Continuation, "b"u8, mask: true, rsv: 4)];
        Assert.Equal("reserved_bits", Run(onContinuation, [], Limits with { AllowCompressed = true }).Rejection.Kind);
        Assert.Equal("reserved_bits", Run(compressed, [], Limits).Rejection.Kind);
    }

    [Fact]
    public void Filter_CountsMessagesAndFrames_CloseStatusSplitByteByByte()
    {
        byte[] input =
        [
            .. WebSocketFrames.Encode(WebSocketOpcode.Text, "frag1"u8, fin: false, mask: true),
            .. WebSocketFrames.Encode(WebSocketOpcode.Ping, "p"u8, mask: true),
            .. WebSocketFrames.Encode(WebSocketOpcode.Continuation, "frag2"u8, fin: true, mask: true),
            .. WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[700], mask: true),
            .. WebSocketFrames.Close(4123, "bye", mask: true),
        ];

        var run = Run(input, Enumerable.Range(1, input.Length).ToArray());

        Assert.Equal(2, run.Messages);
        Assert.Equal(input, run.Output);
        Assert.Equal(4123, run.Filter.CloseStatus);
    }

    [Fact]
    public void CloseStatus_IsReportedOnceTheCloseFrameIsWhole_NothingOfItPassesBefore()
    {
        var close = WebSocketFrames.Close(4123, "bye", mask: true);
        var filter = new ClientFrameFilter(Limits);
        var buffer = new byte[ClientFrameFilter.MaxHeldBack + 1];
        for (var i = 0; i < close.Length; i++)
        {
            var restored = filter.Restore(buffer);
            buffer[restored] = close[i];
            var result = filter.Filter(buffer.AsSpan(0, restored + 1));

            // Held back, byte by byte, until its last byte: then the whole frame goes on, checked.
            var whole = i == close.Length - 1;
            Assert.Equal(whole ? 4123 : -1, filter.CloseStatus);
            Assert.Equal(whole ? close.Length : 0, result.Length);
        }
    }

    public static TheoryData<int> ForbiddenCloseStatuses() => [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

    [Theory]
    [MemberData(nameof(ForbiddenCloseStatuses))]
    public void Filter_CloseWithAStatusNotAllowedOnTheWire_IsRefused_NothingOfItPasses(int status)
    {
        byte[] before = [.. Text("ok"), .. WebSocketFrames.Encode(WebSocketOpcode.Ping, "p"u8, mask: true)];
        byte[] input = [.. before, .. WebSocketFrames.Close((ushort)status, "why", mask: true), .. Text("never")];

        for (var split = 0; split <= input.Length; split++)
        {
            var run = Run(input, [split]);
            Assert.Equal(1002, run.Rejection.Status);
            Assert.Equal("bad_close_status", run.Rejection.Kind);
            Assert.Equal(before, run.Output);
            Assert.Equal(-1, run.Filter.CloseStatus);
        }
    }

    public static TheoryData<string> InvalidUtf8Reasons() =>
    [
        "FF",             // never in UTF-8
        "C0 80",          // overlong NUL
        "E0 80 80",       // overlong
        "ED A0 80",       // a UTF-16 surrogate
        "F4 90 80 80",    // above U+10FFFF
        "CE BA E1 BD B9 CF 83 CE BC CE B5 ED A0 80 65 64 69 74 65 64", // Autobahn 7.5.1: valid, then a surrogate
        "E2 82",          // truncated at the frame's end
        "80",             // a lone continuation byte
    ];

    [Theory]
    [MemberData(nameof(InvalidUtf8Reasons))]
    public void Filter_CloseWithAReasonThatIsNotUtf8_IsRefused_NothingOfItPasses(string hex)
    {
        var reason = Convert.FromHexString(hex.Replace(" ", string.Empty));
        byte[] body = [0x03, 0xE8, .. reason];
        byte[] input = [.. Text("ok"), .. WebSocketFrames.Encode(WebSocketOpcode.Close, body, mask: true)];

        for (var split = 0; split <= input.Length; split++)
        {
            var run = Run(input, [split]);
            Assert.Equal(1002, run.Rejection.Status);
            Assert.Equal("bad_close_reason", run.Rejection.Kind);
            Assert.Equal(Text("ok"), run.Output);
        }
    }

    public static TheoryData<int> AllowedCloseStatuses() => [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];

    [Theory]
    [MemberData(nameof(AllowedCloseStatuses))]
    public void Filter_CloseWithAnAllowedStatusAndAUtf8Reason_Passes_AtEverySplit(int status)
    {
        byte[] input = [.. Text("ok"), .. WebSocketFrames.Close((ushort)status, "bye \u00e9\u4e16\U0001F600", mask: true)];
        byte[] bare = [.. Text("ok"), .. WebSocketFrames.Encode(WebSocketOpcode.Close, [], mask: true)];
        byte[] longest = [.. Text("ok"), .. WebSocketFrames.Close((ushort)status, new string('r', 123), mask: true)];

        for (var split = 0; split <= longest.Length; split++)
        {
            foreach (var (stream, expected) in new[] { (input, status), (bare, 1005), (longest, status) })
            {
                if (split > stream.Length)
                {
                    continue;
                }

                var run = Run(stream, [split]);
                Assert.True(run.Rejection.IsEmpty);
                Assert.Equal(stream, run.Output);
                Assert.Equal(expected, run.Filter.CloseStatus);
            }
        }

        // Byte at a time, the longest close there is (131 bytes) waits whole and then passes.
        var bytewise = Run(longest, Enumerable.Range(1, longest.Length).ToArray());
        Assert.Equal(longest, bytewise.Output);
    }

    [Fact]
    public void Filter_RandomBytes_NeverThrows_NeverPassesMoreThanItGot_AndWhatPassesIsValid()
    {
        var random = new Random(7);
        for (var round = 0; round < 3000; round++)
        {
            var input = new byte[random.Next(0, 400)];
            random.NextBytes(input);
            if (round % 2 == 0 && input.Length > 1)
            {
                // Half the rounds look like frames: masked, small lengths, so parsing goes past the first header.
                for (var i = 0; i + 1 < input.Length; i += random.Next(2, 40))
                {
                    input[i + 1] = (byte)(0x80 | (input[i + 1] & 0x1F));
                }
            }

            var cuts = Enumerable.Range(0, random.Next(0, 10)).Select(_ => random.Next(0, input.Length + 1)).Order().ToArray();
            var run = Run(input, cuts);

            Assert.True(run.Output.Length <= input.Length);

            // Whatever passed is a valid client stream: a fresh filter with the same limits passes all of it.
            var again = Run(run.Output, []);
            Assert.True(again.Rejection.IsEmpty);
            Assert.Equal(run.Output, again.Output);
        }
    }

    private static byte[] Text(string text) => WebSocketFrames.Encode(WebSocketOpcode.Text, System.Text.Encoding.UTF8.GetBytes(text), mask: true, maskKey: 0x0A0B0C0D);

    private static byte[] OurPong(long timestamp)
    {
        var ping = new byte[GatewayPing.FrameLength];
        GatewayPing.Write(ping, timestamp);
        return WebSocketFrames.Encode(WebSocketOpcode.Pong, ping.AsSpan(2), mask: true, maskKey: 0xCAFEBABE);
    }

    /// <summary>Client frames of every kind, with pongs to our pings among them; what should pass; the pongs' timestamps.</summary>
    private static (byte[] Input, byte[] Expected, List<long> Pongs) Generate(Random random)
    {
        var input = new List<byte>();
        var expected = new List<byte>();
        var pongs = new List<long>();
        var messages = random.Next(1, 4);
        for (var m = 0; m < messages; m++)
        {
            var fragments = random.Next(1, 4);
            var opcode = random.Next(2) == 0 ? WebSocketOpcode.Text : WebSocketOpcode.Binary;
            for (var f = 0; f < fragments; f++)
            {
                var length = random.Next(8) == 0 ? random.Next(126, 400) : random.Next(0, 126);
                var payload = new byte[length];
                random.NextBytes(payload);
                Add(WebSocketFrames.Encode(f == 0 ? opcode : WebSocketOpcode.Continuation, payload, fin: f == fragments - 1, mask: true, maskKey: (uint)random.Next()), pass: true);
                switch (random.Next(4))
                {
                    case 0:
                        var timestamp = random.NextInt64(1, long.MaxValue);
                        Add(OurPong(timestamp), pass: false);
                        pongs.Add(timestamp);
                        break;
                    case 1:
                        var control = new byte[random.Next(0, 126)];
                        random.NextBytes(control);
                        Add(WebSocketFrames.Encode(random.Next(2) == 0 ? WebSocketOpcode.Ping : WebSocketOpcode.Pong, control, mask: true, maskKey: (uint)random.Next()), pass: true);
                        break;
                }
            }
        }

        Add(WebSocketFrames.Close(1000, "done", mask: true), pass: true);
        return ([.. input], [.. expected], pongs);

        void Add(byte[] frame, bool pass)
        {
            input.AddRange(frame);
            if (pass)
            {
                expected.AddRange(frame);
            }
        }
    }

    private static Result Run(byte[] input, int[] cuts, ClientFrameLimits? limits = null)
    {
        var filter = new ClientFrameFilter(limits ?? Limits);
        var output = new List<byte>();
        var pongs = new List<long>();
        var messages = 0;
        var pongCount = 0;
        FrameRejection rejection = default;
        var start = 0;
        foreach (var cut in cuts.Append(input.Length))
        {
            if (cut < start || (cut == start && cut != input.Length))
            {
                continue;
            }

            var buffer = new byte[cut - start + ClientFrameFilter.MaxHeldBack];
            var restored = filter.Restore(buffer);
            input.AsSpan(start, cut - start).CopyTo(buffer.AsSpan(restored));
            var result = filter.Filter(buffer.AsSpan(0, restored + cut - start));
            output.AddRange(buffer.AsSpan(0, result.Length).ToArray());
            messages += result.Messages;
            pongCount += result.Pongs;
            if (result.PongTimestamp != 0)
            {
                pongs.Add(result.PongTimestamp);
            }

            start = cut;
            if (result.Rejected)
            {
                rejection = result.Rejection;
                break;
            }
        }

        return new Result([.. output], pongs, pongCount, messages, rejection, filter);
    }

    private sealed record Result(byte[] Output, List<long> Pongs, int PongCount, int Messages, FrameRejection Rejection, ClientFrameFilter Filter);
}

public sealed class ServerFrameObserverTests
{
    [Fact]
    public void Observe_ReportsTheFirstBoundaryInEachBuffer_AtEverySplit()
    {
        byte[] first = WebSocketFrames.Encode(WebSocketOpcode.Text, new byte[300]);
        byte[] second = WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[5]);
        byte[] stream = [.. first, .. second];

        for (var split = 0; split <= stream.Length; split++)
        {
            var observer = new ServerFrameObserver();
            var a = observer.Observe(stream.AsSpan(0, split), out var messagesA, out _);
            var b = observer.Observe(stream.AsSpan(split), out var messagesB, out _);

            var expectedA = split >= first.Length ? first.Length : -1;
            Assert.Equal(expectedA, a);
            var expectedB = split >= stream.Length ? -1 : split < first.Length ? first.Length - split : stream.Length - split;
            Assert.Equal(expectedB, b);
            Assert.Equal(2, messagesA + messagesB);
            Assert.True(observer.AtFrameBoundary);
        }
    }

    [Fact]
    public void Observe_CloseWithoutBody_Is1005_WithBody_ItsStatus()
    {
        var bare = new ServerFrameObserver();
        bare.Observe(WebSocketFrames.Encode(WebSocketOpcode.Close, []), out _, out _);
        Assert.Equal(1005, bare.CloseStatus);

        var withStatus = new ServerFrameObserver();
        foreach (var b in WebSocketFrames.Close(1001, "bye"))
        {
            withStatus.Observe([b], out _, out _);
        }

        Assert.Equal(1001, withStatus.CloseStatus);
    }
}
