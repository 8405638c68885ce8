namespace Gateway.Frames;

/// <summary>
/// The client-to-backend direction of one session, processed in place in the relay's own read buffer: frames
/// are checked by <see cref="ClientFrameRules"/> before any of their bytes go on, pongs answering the gateway's
/// pings are cut out, and a header split across reads is held back (in the parser's 14 bytes) until it is whole.
/// What remains at the front of the buffer is exactly what the backend may receive.
/// </summary>
/// <remarks>
/// Bytes are only ever moved towards the front, so the buffer is all the room it needs. A pong that may be ours
/// but whose first four payload bytes have not arrived yet is held back too: header (6 bytes) plus at most
/// three payload bytes, within the same 14 bytes. A close frame is held back until it is whole, so its status and
/// reason are checked (<see cref="ClientFrameRules.CheckClose"/>) before a byte of it goes on; one split across reads
/// waits in a small array allocated then (at most once a session: a close is the last frame a client sends).
/// Free of stream types so a transport-level relay can use it.
/// </remarks>
internal struct ClientFrameFilter
{
    private WebSocketFrameParser _parser;
    private ClientFrameRules.MessageState _message;
    private readonly ClientFrameLimits _limits;
    private PongState _pong;
    private long _pongTimestamp;
    private int _closeStatus;
    private byte[]? _heldClose;
    private byte _heldCloseLength;

    /// <summary>
    /// The most bytes a read's buffer may get back at its front from <see cref="Restore"/>: a whole close frame
    /// (a 6-byte masked header and 125 bytes of payload), held back until it can be checked.
    /// </summary>
    public const int MaxHeldBack = 6 + 125;

    public ClientFrameFilter(ClientFrameLimits limits)
    {
        _limits = limits;
        _closeStatus = -1;
    }

    private enum PongState : byte
    {
        None,

        /// <summary>A pong of the right length; its key bytes are being compared.</summary>
        Matching,

        /// <summary>The key matched: the rest of the pong is consumed, wherever it ends.</summary>
        Ours,
    }

    /// <summary>Everything passed on so far ends between two frames.</summary>
    public readonly bool AtFrameBoundary => _parser.AtFrameBoundary && _pong == PongState.None;

    /// <summary>
    /// What was passed on so far ends between two frames (a header held back, or a pong of ours being cut out,
    /// starts after that boundary): the backend's stream may take a frame of the gateway's here.
    /// </summary>
    public readonly bool OutputAtFrameBoundary => !_parser.InPayload || _pong == PongState.Ours;

    /// <summary>Why the stream stopped being passed on (a refused frame, or framing that cannot be followed).</summary>
    public readonly string? Error => _parser.Error;

    /// <summary>Status of the client's close frame; -1 until one is seen, 1005 for a close without a body.</summary>
    public readonly int CloseStatus => _closeStatus;

    /// <summary>
    /// Puts what the previous call held back at the front of the next buffer; the new bytes go after it.
    /// The buffer must hold at least <see cref="MaxHeldBack"/> bytes.
    /// </summary>
    public int Restore(Span<byte> buffer)
    {
        if (_heldCloseLength == 0)
        {
            return _parser.TakePending(buffer);
        }

        var length = _heldCloseLength;
        _heldClose.AsSpan(0, length).CopyTo(buffer);
        _heldCloseLength = 0;
        return length;
    }

    /// <summary>
    /// Filters <paramref name="data"/> (restored bytes followed by newly read ones) in place.
    /// </summary>
    public ClientFilterResult Filter(Span<byte> data)
    {
        var pass = new Pass(ref this, data);
        var ok = _parser.Parse(data, ref pass);
        var result = new ClientFilterResult { Messages = pass.Messages, Frames = pass.Frames, Pongs = pass.Pongs, PongTimestamp = pass.PongTimestamp };
        if (!ok || !pass.Rejection.IsEmpty)
        {
            if (pass.Rejection.IsEmpty)
            {
                // Framing that cannot be followed (a 64-bit length with its top bit set): what was already
                // passed on stays, nothing more does.
                result.Rejection = new FrameRejection(FrameRejection.ProtocolError, "invalid payload length", "bad_length");
                result.Length = pass.Flush(0);
                return result;
            }

            result.Rejection = pass.Rejection;
            _parser.Fail(pass.Rejection.Reason);
            // Nothing from the refused frame on goes anywhere.
            result.Length = pass.Flush(pass.RefusedAt);
            return result;
        }

        if (pass.CloseStart >= 0)
        {
            // A close frame not whole yet: nothing of it goes on until it is, and has been checked.
            result.Length = pass.Flush(pass.CloseStart);
            var held = data[pass.CloseStart..];
            _heldClose ??= new byte[MaxHeldBack];
            held.CopyTo(_heldClose);
            _heldCloseLength = (byte)held.Length;
            _parser.Carry([]);
            return result;
        }

        var keepUpTo = data.Length - _parser.PendingLength;
        if (_pong == PongState.Matching)
        {
            // Undecided at the end of the data: hold the pong's start back and decide when the rest arrives.
            keepUpTo = pass.RemoveStart;
            result.Length = pass.Flush(keepUpTo);
            _parser.Carry(data[keepUpTo..]);
            _pong = PongState.None;
            return result;
        }

        result.Length = pass.Flush(_pong == PongState.Ours ? pass.RemoveStart : keepUpTo);
        return result;
    }

    private ref struct Pass : IWebSocketFrameHandler
    {
        private readonly ref ClientFrameFilter _filter;
        private readonly Span<byte> _data;
        private int _written;
        private int _copied;

        public Pass(ref ClientFrameFilter filter, Span<byte> data)
        {
            _filter = ref filter;
            _data = data;
            // A pong of ours that began in the previous call goes on being removed from the first byte.
            RemoveStart = filter._pong == PongState.Ours ? 0 : -1;
        }

        public int RemoveStart;
        public int CloseStart = -1;
        public int RefusedAt;
        public int Messages;
        public int Frames;
        public int Pongs;
        public long PongTimestamp;
        public FrameRejection Rejection;

        public bool OnFrameHeader(in WebSocketFrameHeader frame, int headerStart)
        {
            if (!Rejection.IsEmpty)
            {
                // A close frame before this one was refused when it ended: nothing from it on goes anywhere.
                return false;
            }

            ref var filter = ref _filter;
            var rejection = ClientFrameRules.Check(frame, filter._limits, ref filter._message);
            if (!rejection.IsEmpty)
            {
                Rejection = rejection;
                RefusedAt = Math.Max(headerStart, 0);
                return false;
            }

            Frames++;
            if (frame.CompletesMessage)
            {
                Messages++;
            }
            else if (frame.Opcode == WebSocketOpcode.Close)
            {
                // Held back from its first byte until it is whole and checked (OnFrameEnd).
                Flush(Math.Max(headerStart, 0));
                CloseStart = Math.Max(headerStart, 0);
            }

            if (GatewayPing.MayAnswer(frame) && headerStart >= 0
                && WebSocketFrameParser.HeaderLength(_data[headerStart + 1]) == GatewayPing.PongHeaderLength)
            {
                Flush(headerStart);
                RemoveStart = headerStart;
                filter._pong = PongState.Matching;
                filter._pongTimestamp = 0;
            }

            return true;
        }

        public void OnPayload(in WebSocketFrameHeader frame, ReadOnlySpan<byte> payload, ulong offset)
        {
            ref var filter = ref _filter;
            if (filter._pong != PongState.None)
            {
                for (var i = 0; i < payload.Length; i++)
                {
                    var at = (int)offset + i;
                    var value = frame.Unmask(payload[i], (ulong)at);
                    if (at < GatewayPing.KeyLength)
                    {
                        if (value != GatewayPing.KeyByte(at))
                        {
                            // Somebody else's pong: it stays where it is and goes on like any frame.
                            filter._pong = PongState.None;
                            RemoveStart = -1;
                            return;
                        }

                        if (at == GatewayPing.KeyLength - 1)
                        {
                            filter._pong = PongState.Ours;
                        }
                    }
                    else
                    {
                        filter._pongTimestamp = (filter._pongTimestamp << 8) | value;
                    }
                }

                return;
            }
        }

        public void OnFrameEnd(in WebSocketFrameHeader frame, int end)
        {
            ref var filter = ref _filter;
            if (CloseStart >= 0 && frame.Opcode == WebSocketOpcode.Close)
            {
                var length = (int)frame.PayloadLength;
                Span<byte> payload = stackalloc byte[125];
                payload = payload[..length];
                var masked = _data.Slice(end - length, length);
                for (var i = 0; i < length; i++)
                {
                    payload[i] = frame.Unmask(masked[i], (ulong)i);
                }

                var rejection = ClientFrameRules.CheckClose(payload, out var status);
                if (!rejection.IsEmpty)
                {
                    Rejection = rejection;
                    RefusedAt = CloseStart;
                    CloseStart = -1;
                    return;
                }

                if (filter._closeStatus < 0)
                {
                    filter._closeStatus = status;
                }

                CloseStart = -1;
                return;
            }

            if (filter._pong == PongState.Ours)
            {
                // Ours, whole: cut it out.
                PongTimestamp = filter._pongTimestamp;
                Pongs++;
                filter._pong = PongState.None;
                _copied = end;
                RemoveStart = -1;
            }
        }

        /// <summary>Moves the bytes passed on since the last flush, up to <paramref name="upTo"/>, to the output's end.</summary>
        public int Flush(int upTo)
        {
            if (upTo > _copied)
            {
                if (_written != _copied)
                {
                    _data[_copied..upTo].CopyTo(_data[_written..]);
                }

                _written += upTo - _copied;
                _copied = upTo;
            }

            return _written;
        }
    }
}
