using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Gateway.Frames;

/// <summary>
/// The pings the gateway itself sends to clients. The payload is a key drawn once per process followed by the
/// send timestamp, so the answering pong (RFC 6455 §5.5.3: same payload) is recognised as ours by its first
/// four bytes, and carries its own round-trip start: a session keeps no record of the pings it was sent.
/// </summary>
internal static class GatewayPing
{
    public const int KeyLength = 4;
    public const int PayloadLength = KeyLength + sizeof(long);

    /// <summary>Header (2 bytes, unmasked) plus payload.</summary>
    public const int FrameLength = 2 + PayloadLength;

    /// <summary>A client's pong is masked: header 2 + mask 4.</summary>
    public const int PongHeaderLength = 6;

    private static readonly uint Key = RandomKey();

    /// <summary>Key byte <paramref name="index"/> in wire order.</summary>
    public static byte KeyByte(int index) => (byte)(Key >> (8 * index));

    public static void Write(Span<byte> frame, long timestamp)
    {
        frame[0] = 0x89; // FIN + ping
        frame[1] = PayloadLength;
        BinaryPrimitives.WriteUInt32LittleEndian(frame[2..], Key);
        BinaryPrimitives.WriteInt64BigEndian(frame[(2 + KeyLength)..], timestamp);
    }

    /// <summary>True for a pong header that may answer one of our pings; its payload decides.</summary>
    public static bool MayAnswer(in WebSocketFrameHeader frame)
        => frame.Opcode == WebSocketOpcode.Pong && frame.Masked && frame.PayloadLength == PayloadLength;

    private static uint RandomKey()
    {
        Span<byte> bytes = stackalloc byte[4];
        RandomNumberGenerator.Fill(bytes);
        return BinaryPrimitives.ReadUInt32LittleEndian(bytes);
    }
}
