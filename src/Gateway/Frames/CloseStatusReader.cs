namespace Gateway.Frames;

/// <summary>
/// The status code of the first close frame on a stream, read from its payload as it passes (possibly a byte at
/// a time); -1 until a close frame's status is whole, 1005 ("no status received") for a close without a body.
/// </summary>
internal struct CloseStatusReader
{
    private int _status;
    private byte _bytes;

    public CloseStatusReader()
    {
        _status = -1;
    }

    public readonly int Status => _status == CloseFrame.NoStatusReceived || _bytes >= 2 ? _status : -1;

    public void OnHeader(in WebSocketFrameHeader frame)
    {
        if (frame.Opcode == WebSocketOpcode.Close && _status < 0)
        {
            // RFC 6455 §7.1.5: a close frame without a body means "no status received".
            _status = frame.PayloadLength >= 2 ? 0 : CloseFrame.NoStatusReceived;
            _bytes = 0;
        }
    }

    public void OnPayload(in WebSocketFrameHeader frame, ReadOnlySpan<byte> payload, ulong offset)
    {
        if (frame.Opcode != WebSocketOpcode.Close || offset >= 2 || _bytes >= 2 || _status == CloseFrame.NoStatusReceived)
        {
            return;
        }

        for (var i = 0; i < payload.Length && _bytes < 2; i++)
        {
            _status = (_status << 8) | frame.Unmask(payload[i], offset + (ulong)i);
            _bytes++;
        }
    }
}
