using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>One WebSocket frame as it was on the wire (payload unmasked).</summary>
public sealed record RawFrame(bool Fin, int Rsv, int Opcode, bool Masked, byte[] Payload)
{
    public const int Continuation = 0x0;
    public const int Text = 0x1;
    public const int Binary = 0x2;
    public const int Close = 0x8;
    public const int Ping = 0x9;
    public const int Pong = 0xA;

    public bool IsControl => (Opcode & 0x8) != 0;

    public int CloseStatus => Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Payload) : 1005;

    public string CloseReason => Payload.Length > 2 ? Encoding.UTF8.GetString(Payload, 2, Payload.Length - 2) : "";
}

/// <summary>
/// An RFC 6455 frame reader and writer for test peers that must see (or send) every frame as it is, control
/// frames and malformed ones included, which ClientWebSocket and Kestrel's WebSocket hide or refuse. Written
/// independently of the gateway's parser.
/// </summary>
public static class RawFrames
{
    public static byte[] Encode(int opcode, ReadOnlySpan<byte> payload, bool fin = true, bool mask = true, int rsv = 0)
    {
        var extra = payload.Length <= 125 ? 0 : payload.Length <= ushort.MaxValue ? 2 : 8;
        var frame = new byte[2 + extra + (mask ? 4 : 0) + payload.Length];
        frame[0] = (byte)((fin ? 0x80 : 0) | (rsv << 4) | opcode);
        var lengthCode = extra == 0 ? payload.Length : extra == 2 ? 126 : 127;
        frame[1] = (byte)((mask ? 0x80 : 0) | lengthCode);
        if (extra == 2)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
        }
        else if (extra == 8)
        {
            BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
        }

        var body = frame.AsSpan(2 + extra + (mask ? 4 : 0));
        payload.CopyTo(body);
        if (mask)
        {
            var key = frame.AsSpan(2 + extra, 4);
            RandomNumberGenerator.Fill(key);
            for (var i = 0; i < body.Length; i++)
            {
                body[i] ^= key[i & 3];
            }
        }

        return frame;
    }

    public static byte[] CloseFrame(int status, string reason, bool mask)
    {
        var payload = new byte[2 + Encoding.UTF8.GetByteCount(reason)];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)status);
        Encoding.UTF8.GetBytes(reason, payload.AsSpan(2));
        return Encode(RawFrame.Close, payload, mask: mask);
    }

    /// <summary>Reads one frame; null at end of stream (or a connection reset) before a whole frame.</summary>
    public static async Task<RawFrame?> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[14];
        if (!await FillAsync(stream, header.AsMemory(0, 2), cancellationToken))
        {
            return null;
        }

        var masked = (header[1] & 0x80) != 0;
        var length = (ulong)(header[1] & 0x7F);
        if (length == 126)
        {
            if (!await FillAsync(stream, header.AsMemory(2, 2), cancellationToken))
            {
                return null;
            }

            length = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2));
        }
        else if (length == 127)
        {
            if (!await FillAsync(stream, header.AsMemory(2, 8), cancellationToken))
            {
                return null;
            }

            length = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(2));
        }

        var key = new byte[4];
        if (masked && !await FillAsync(stream, key, cancellationToken))
        {
            return null;
        }

        var payload = new byte[checked((int)length)];
        if (!await FillAsync(stream, payload, cancellationToken))
        {
            return null;
        }

        if (masked)
        {
            for (var i = 0; i < payload.Length; i++)
            {
                payload[i] ^= key[i & 3];
            }
        }

        return new RawFrame((header[0] & 0x80) != 0, (header[0] >> 4) & 0x7, header[0] & 0x0F, masked, payload);
    }

    private static async Task<bool> FillAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        try
        {
            while (filled < buffer.Length)
            {
                var read = await stream.ReadAsync(buffer[filled..], cancellationToken);
                if (read == 0)
                {
                    return false;
                }

                filled += read;
            }
        }
        catch (IOException)
        {
            return false;
        }

        return true;
    }
}
