using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Gateway.Frames;

/// <summary>
/// Incremental RFC 6455 frame-header parser for one direction of a relayed stream. It observes the bytes the
/// relay already holds: frames may be split across calls at any byte, payload is never copied, and the only
/// state kept between calls is at most one partial header (14 bytes). A session keeps one per direction.
/// </summary>
/// <remarks>
/// Deliberately free of stream, Kestrel and YARP types so the same code can drive a transport-level relay.
/// It checks only what it needs to stay in sync with the framing (a 64-bit length with the top bit set);
/// protocol rules (masking, opcodes, control-frame limits) belong to the handler.
/// </remarks>
internal struct WebSocketFrameParser
{
    public const int MaxHeaderLength = 14;

    private HeaderBuffer _header;
    private byte _headerFilled;
    private byte _headerLength;
    private bool _inPayload;
    private ulong _payloadRead;
    private WebSocketFrameHeader _frame;

    /// <summary>Why parsing stopped, or null while the stream is well framed.</summary>
    public string? Error { get; private set; }

    /// <summary>True when the parser sits exactly between two frames.</summary>
    public readonly bool AtFrameBoundary => !_inPayload && _headerFilled == 0 && Error is null;

    /// <summary>Inside a frame's payload (its header has been passed on, its end has not).</summary>
    public readonly bool InPayload => _inPayload;

    /// <summary>Bytes of a header that has begun but not ended; they are the last bytes fed.</summary>
    public readonly int PendingLength => _inPayload ? 0 : _headerFilled;

    /// <summary>The opcode of the header that has begun but not ended (its first byte says it), or null.</summary>
    public readonly WebSocketOpcode? PendingOpcode => PendingLength > 0 ? (WebSocketOpcode)(_header[0] & 0x0F) : null;

    /// <summary>
    /// Feeds the next bytes of the stream. Returns false once the framing is broken or the handler refused a
    /// header (then the caller says why with <see cref="Fail"/>). Positions given to the handler are indexes
    /// into <paramref name="data"/>; a header that began in an earlier call starts at a negative index.
    /// </summary>
    public bool Parse<THandler>(ReadOnlySpan<byte> data, ref THandler handler)
        where THandler : IWebSocketFrameHandler, allows ref struct
    {
        if (Error is not null)
        {
            return false;
        }

        var position = 0;
        while (position < data.Length)
        {
            if (_inPayload)
            {
                var remaining = _frame.PayloadLength - _payloadRead;
                var available = data.Length - position;
                var take = remaining < (ulong)available ? (int)remaining : available;
                handler.OnPayload(in _frame, data.Slice(position, take), _payloadRead);
                _payloadRead += (ulong)take;
                position += take;
                if (_payloadRead == _frame.PayloadLength)
                {
                    _inPayload = false;
                    handler.OnFrameEnd(in _frame, position);
                }

                continue;
            }

            // Header: gather the first two bytes, then however many the length and mask bits ask for.
            var needed = _headerLength == 0 ? 2 : _headerLength;
            var copy = Math.Min(needed - _headerFilled, data.Length - position);
            data.Slice(position, copy).CopyTo(((Span<byte>)_header)[_headerFilled..]);
            _headerFilled += (byte)copy;
            position += copy;
            if (_headerFilled < needed)
            {
                return true;
            }

            if (_headerLength == 0)
            {
                _headerLength = (byte)HeaderLength(_header[1]);
                if (_headerFilled < _headerLength)
                {
                    continue;
                }
            }

            if (!TryDecode(((ReadOnlySpan<byte>)_header)[.._headerLength], out _frame))
            {
                Error = "64-bit payload length has its most significant bit set";
                return false;
            }

            var headerStart = position - _headerLength;
            _headerFilled = 0;
            _headerLength = 0;
            _payloadRead = 0;
            if (!handler.OnFrameHeader(in _frame, headerStart))
            {
                Error = "frame refused";
                return false;
            }

            if (_frame.PayloadLength == 0)
            {
                handler.OnFrameEnd(in _frame, position);
            }
            else
            {
                _inPayload = true;
            }
        }

        return true;
    }

    /// <summary>Stops the parser for good, saying why (a frame the caller's rules refuse).</summary>
    public void Fail(string reason) => Error = reason;

    /// <summary>
    /// Moves the pending partial header out (into the front of the next read's buffer, to be fed again whole)
    /// and returns its length; the parser is then at a frame boundary.
    /// </summary>
    public int TakePending(Span<byte> destination)
    {
        var length = PendingLength;
        ((ReadOnlySpan<byte>)_header)[..length].CopyTo(destination);
        _headerFilled = 0;
        _headerLength = 0;
        return length;
    }

    /// <summary>
    /// Rewinds to a frame boundary and keeps <paramref name="bytes"/> (the start of a frame the caller holds back,
    /// at most <see cref="MaxHeaderLength"/> bytes) as pending, for <see cref="TakePending"/> to hand back.
    /// </summary>
    public void Carry(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo((Span<byte>)_header);
        _inPayload = false;
        _payloadRead = 0;
        _headerFilled = (byte)bytes.Length;
        _headerLength = 0;
    }

    /// <summary>Header length implied by the second header byte: 2, plus 2 or 8 length bytes, plus 4 mask bytes.</summary>
    public static int HeaderLength(byte second)
    {
        var length7 = second & 0x7F;
        var extended = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
        return 2 + extended + ((second & 0x80) != 0 ? 4 : 0);
    }

    public static bool TryDecode(ReadOnlySpan<byte> header, out WebSocketFrameHeader frame)
    {
        var first = header[0];
        var second = header[1];
        var length7 = (ulong)(second & 0x7F);
        var position = 2;
        var length = length7;
        if (length7 == 126)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
            position = 4;
        }
        else if (length7 == 127)
        {
            length = BinaryPrimitives.ReadUInt64BigEndian(header[2..]);
            position = 10;
            if ((length & (1UL << 63)) != 0)
            {
                frame = default;
                return false;
            }
        }

        var masked = (second & 0x80) != 0;
        var key = masked ? BinaryPrimitives.ReadUInt32LittleEndian(header[position..]) : 0u;
        frame = new WebSocketFrameHeader(
            Fin: (first & 0x80) != 0,
            Rsv: (byte)((first >> 4) & 0x7),
            Opcode: (WebSocketOpcode)(first & 0x0F),
            Masked: masked,
            MaskKey: key,
            PayloadLength: length);
        return true;
    }

    [InlineArray(MaxHeaderLength)]
    private struct HeaderBuffer
    {
        private byte _element0;
    }
}
