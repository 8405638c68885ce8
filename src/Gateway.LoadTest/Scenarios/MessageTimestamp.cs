using System.Buffers.Binary;

namespace Gateway.LoadTest.Scenarios;

/// <summary>
/// A Stopwatch timestamp in 8 bytes of a message. Binary messages carry it little-endian. Text messages must stay
/// valid UTF-8 (the client's WebSocket validates what it receives), so there each byte carries 7 bits, most
/// significant first: 56 bits of Stopwatch ticks, over two years at nanosecond resolution.
/// </summary>
internal static class MessageTimestamp
{
    public const int Size = 8;

    public static void Write(Span<byte> destination, long ticks, bool text)
    {
        if (!text)
        {
            BinaryPrimitives.WriteInt64LittleEndian(destination, ticks);
            return;
        }

        for (var i = Size - 1; i >= 0; i--)
        {
            destination[i] = (byte)(ticks & 0x7F);
            ticks >>= 7;
        }
    }

    public static long Read(ReadOnlySpan<byte> source, bool text)
    {
        if (!text)
        {
            return BinaryPrimitives.ReadInt64LittleEndian(source);
        }

        long ticks = 0;
        for (var i = 0; i < Size; i++)
        {
            ticks = (ticks << 7) | (source[i] & 0x7FL);
        }

        return ticks;
    }
}
