using System.Buffers.Binary;
using Gateway.Frames;

namespace Gateway.Tests.Infrastructure;

/// <summary>An RFC 6455 frame encoder for tests, written independently of the parser under test.</summary>
internal static class WebSocketFrames
{
    public static byte[] Encode(WebSocketOpcode opcode, ReadOnlySpan<byte> payload, bool fin = true, bool mask = false, byte rsv = 0, uint maskKey = 0x12345678, bool forceLength64 = false)
    {
        using var output = new MemoryStream();
        output.WriteByte((byte)((fin ? 0x80 : 0) | (rsv << 4) | (byte)opcode));
        var maskBit = mask ? 0x80 : 0;
        if (payload.Length <= 125 && !forceLength64)
        {
            output.WriteByte((byte)(maskBit | payload.Length));
        }
        else if (payload.Length <= ushort.MaxValue && !forceLength64)
        {
            output.WriteByte((byte)(maskBit | 126));
            Span<byte> length = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)payload.Length);
            output.Write(length);
        }
        else
        {
            output.WriteByte((byte)(maskBit | 127));
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(length, (ulong)payload.Length);
            output.Write(length);
        }

        var body = payload.ToArray();
        if (mask)
        {
            Span<byte> key = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(key, maskKey);
            output.Write(key);
            for (var i = 0; i < body.Length; i++)
            {
                body[i] ^= key[i % 4];
            }
        }

        output.Write(body);
        return output.ToArray();
    }

    public static byte[] Close(ushort status, string reason = "", bool mask = false)
    {
        var payload = new byte[2 + System.Text.Encoding.UTF8.GetByteCount(reason)];
        BinaryPrimitives.WriteUInt16BigEndian(payload, status);
        System.Text.Encoding.UTF8.GetBytes(reason, payload.AsSpan(2));
        return Encode(WebSocketOpcode.Close, payload, mask: mask);
    }
}

/// <summary>Records what the parser reports: headers, and each frame's payload unmasked and reassembled.</summary>
internal struct RecordingHandler : IWebSocketFrameHandler
{
    public RecordingHandler()
    {
    }

    public List<(WebSocketFrameHeader Header, byte[] Payload)> Frames { get; } = [];

    /// <summary>Where each frame started and ended in the whole stream (positions reported plus <see cref="Base"/>).</summary>
    public List<(long Start, long End)> Positions { get; } = [];

    /// <summary>Offset in the whole stream of the span being parsed now; the test sets it before each call.</summary>
    public long Base { get; set; }

    private MemoryStream? _current;
    private ulong _expectedOffset;
    private long _start;

    public bool OnFrameHeader(in WebSocketFrameHeader frame, int headerStart)
    {
        Assert.Null(_current);
        _current = new MemoryStream();
        _expectedOffset = 0;
        _start = Base + headerStart;
        return true;
    }

    public void OnPayload(in WebSocketFrameHeader frame, ReadOnlySpan<byte> payload, ulong offset)
    {
        Assert.NotNull(_current);
        Assert.Equal(_expectedOffset, offset);
        Assert.True(offset + (ulong)payload.Length <= frame.PayloadLength, "payload past the frame's end");
        for (var i = 0; i < payload.Length; i++)
        {
            _current!.WriteByte(frame.Unmask(payload[i], offset + (ulong)i));
        }

        _expectedOffset += (ulong)payload.Length;
    }

    public void OnFrameEnd(in WebSocketFrameHeader frame, int end)
    {
        Assert.NotNull(_current);
        Assert.Equal(frame.PayloadLength, (ulong)_current!.Length);
        Frames.Add((frame, _current.ToArray()));
        Positions.Add((_start, Base + end));
        _current = null;
    }
}
