namespace Gateway.Frames;

/// <summary>
/// RFC 6455 rules for frames a client sends (§5.1 masking, §5.2 reserved bits and opcodes, §5.4 fragmentation,
/// §5.5 control frames, §5.5.1 and §7.4 close bodies) plus the route's size limits. Decided on the header alone,
/// before a byte of the frame is passed on, so nothing malformed or oversized reaches a backend; a close frame's body
/// is checked once the frame is whole (<see cref="CheckClose"/>), and the frame is held back until then.
/// </summary>
internal static class ClientFrameRules
{
    private static readonly FrameRejection Unmasked = new(FrameRejection.ProtocolError, "unmasked client frame", "unmasked");
    private static readonly FrameRejection ReservedBits = new(FrameRejection.ProtocolError, "reserved bits set without a negotiated extension", "reserved_bits");
    private static readonly FrameRejection UnknownOpcode = new(FrameRejection.ProtocolError, "unknown opcode", "unknown_opcode");
    private static readonly FrameRejection FragmentedControl = new(FrameRejection.ProtocolError, "fragmented control frame", "bad_control_frame");
    private static readonly FrameRejection LongControl = new(FrameRejection.ProtocolError, "control frame over 125 bytes", "bad_control_frame");
    private static readonly FrameRejection BadClose = new(FrameRejection.ProtocolError, "close frame with a one-byte body", "bad_control_frame");
    private static readonly FrameRejection BadCloseStatus = new(FrameRejection.ProtocolError, "close status code not allowed on the wire", "bad_close_status");
    private static readonly FrameRejection BadCloseReason = new(FrameRejection.ProtocolError, "close reason is not valid UTF-8", "bad_close_reason");
    private static readonly FrameRejection OrphanContinuation = new(FrameRejection.ProtocolError, "continuation frame without a message to continue", "bad_fragmentation");
    private static readonly FrameRejection InterleavedMessage = new(FrameRejection.ProtocolError, "new message before the fragmented one ended", "bad_fragmentation");
    private static readonly FrameRejection FrameTooBig = new(FrameRejection.MessageTooBig, "frame too big", "frame_too_big");
    private static readonly FrameRejection MessageTooBig = new(FrameRejection.MessageTooBig, "message too big", "message_too_big");

    /// <summary>
    /// Checks one client frame header against the rules and the message in progress, and advances the message
    /// state when it passes. Returns an empty rejection for a frame that may go on.
    /// </summary>
    public static FrameRejection Check(in WebSocketFrameHeader frame, in ClientFrameLimits limits, ref MessageState message)
    {
        if (!frame.Masked)
        {
            return Unmasked;
        }

        var opcode = frame.Opcode;
        if (frame.IsControl)
        {
            if (opcode is not (WebSocketOpcode.Close or WebSocketOpcode.Ping or WebSocketOpcode.Pong))
            {
                return UnknownOpcode;
            }

            if (frame.Rsv != 0)
            {
                return ReservedBits;
            }

            if (!frame.Fin)
            {
                return FragmentedControl;
            }

            if (frame.PayloadLength > 125)
            {
                return LongControl;
            }

            return opcode == WebSocketOpcode.Close && frame.PayloadLength == 1 ? BadClose : default;
        }

        if (opcode is not (WebSocketOpcode.Continuation or WebSocketOpcode.Text or WebSocketOpcode.Binary))
        {
            return UnknownOpcode;
        }

        // permessage-deflate (RFC 7692 §6) marks a compressed message with RSV1 on its first frame only.
        var rsvAllowed = limits.AllowCompressed && opcode != WebSocketOpcode.Continuation ? 0b100 : 0;
        if ((frame.Rsv & ~rsvAllowed) != 0)
        {
            return ReservedBits;
        }

        if (opcode == WebSocketOpcode.Continuation ? !message.InProgress : message.InProgress)
        {
            return message.InProgress ? InterleavedMessage : OrphanContinuation;
        }

        if (frame.PayloadLength > (ulong)limits.MaxFrameSize)
        {
            return FrameTooBig;
        }

        var total = (opcode == WebSocketOpcode.Continuation ? message.Length : 0) + frame.PayloadLength;
        if (total > (ulong)limits.MaxMessageSize)
        {
            return MessageTooBig;
        }

        message.InProgress = !frame.Fin;
        message.Length = frame.Fin ? 0 : total;
        return default;
    }

    /// <summary>
    /// Checks a whole close frame's unmasked body (RFC 6455 §5.5.1, §7.4): empty, or a status code an endpoint may
    /// send (<see cref="CloseFrame.MaySend"/>) followed by a valid UTF-8 reason. <paramref name="status"/> is the
    /// code, 1005 ("no status received") for an empty body.
    /// </summary>
    public static FrameRejection CheckClose(ReadOnlySpan<byte> body, out int status)
    {
        if (body.IsEmpty)
        {
            status = CloseFrame.NoStatusReceived;
            return default;
        }

        status = (body[0] << 8) | body[1];
        if (!CloseFrame.MaySend(status))
        {
            return BadCloseStatus;
        }

        return System.Text.Unicode.Utf8.IsValid(body[2..]) ? default : BadCloseReason;
    }

    /// <summary>The message a client is in the middle of sending, across fragments.</summary>
    internal struct MessageState
    {
        public bool InProgress;
        public ulong Length;
    }
}
