namespace Gateway.Frames;

/// <summary>
/// The backend-to-client direction of one session, observed on the relay's buffers as they are written: counts
/// messages, records the backend's close status, and says where the last frame boundary in a buffer lies, so
/// a frame of the gateway's own (a ping, a close) can be written between two of the backend's frames and never
/// inside one. Free of stream types so a transport-level relay can use it.
/// </summary>
internal struct ServerFrameObserver
{
    private WebSocketFrameParser _parser;
    private CloseStatusReader _close;

    public ServerFrameObserver()
    {
        _close = new CloseStatusReader();
    }

    /// <summary>Everything observed so far ends between two frames.</summary>
    public readonly bool AtFrameBoundary => _parser.AtFrameBoundary;

    public readonly string? Error => _parser.Error;

    /// <summary>Status of the backend's close frame; -1 until one is seen, 1005 for a close without a body.</summary>
    public readonly int CloseStatus => _close.Status;

    /// <summary>
    /// Observes the next bytes. Returns the index just past the first frame that ends within them (the next
    /// boundary, where a frame of the gateway's goes in), or -1 when none does; <paramref name="messages"/> counts
    /// completed messages.
    /// </summary>
    /// <param name="closeStart">Where in <paramref name="data"/> the backend's first close frame begins (its header, whole
    /// or the start of it at the end of the data), or -1: where a close of the gateway's goes in its place.</param>
    public int Observe(ReadOnlySpan<byte> data, out int messages, out int closeStart)
    {
        var pass = new Pass(ref this);
        _parser.Parse(data, ref pass);
        messages = pass.Messages;
        closeStart = pass.CloseStart;
        if (closeStart < 0 && _parser.PendingOpcode == WebSocketOpcode.Close && _parser.PendingLength <= data.Length)
        {
            closeStart = data.Length - _parser.PendingLength;
        }

        return pass.FirstBoundary;
    }

    private ref struct Pass : IWebSocketFrameHandler
    {
        private readonly ref ServerFrameObserver _observer;

        public Pass(ref ServerFrameObserver observer)
        {
            _observer = ref observer;
        }

        public int Messages;
        public int FirstBoundary = -1;
        public int CloseStart = -1;

        public bool OnFrameHeader(in WebSocketFrameHeader frame, int headerStart)
        {
            if (frame.CompletesMessage)
            {
                Messages++;
            }
            else
            {
                _observer._close.OnHeader(frame);
                if (frame.Opcode == WebSocketOpcode.Close && CloseStart < 0 && headerStart >= 0)
                {
                    CloseStart = headerStart;
                }
            }

            return true;
        }

        public readonly void OnPayload(in WebSocketFrameHeader frame, ReadOnlySpan<byte> payload, ulong offset)
            => _observer._close.OnPayload(frame, payload, offset);

        public void OnFrameEnd(in WebSocketFrameHeader frame, int end)
        {
            if (FirstBoundary < 0)
            {
                FirstBoundary = end;
            }
        }
    }
}
