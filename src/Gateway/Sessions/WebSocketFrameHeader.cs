namespace Gateway.Sessions;

/// <summary>RFC 6455 §5.2 opcodes.</summary>
internal enum WebSocketOpcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// <summary>
/// The decoded header of one WebSocket frame (RFC 6455 §5.2). <see cref="MaskKey"/> keeps the four key bytes
/// in wire order, byte <c>i</c> in bits <c>8i..8i+7</c>, so unmasking a payload byte at offset <c>o</c> is
/// <c>b ^ (byte)(MaskKey &gt;&gt; 8 * (o % 4))</c>.
/// </summary>
internal readonly record struct WebSocketFrameHeader(
    bool Fin,
    byte Rsv,
    WebSocketOpcode Opcode,
    bool Masked,
    uint MaskKey,
    ulong PayloadLength)
{
    public bool IsControl => ((byte)Opcode & 0x8) != 0;

    /// <summary>True for frames that complete an application message (text, binary or continuation with FIN).</summary>
    public bool CompletesMessage => Fin && !IsControl;

    public byte Unmask(byte value, ulong payloadOffset)
        => Masked ? (byte)(value ^ (byte)(MaskKey >> (int)((payloadOffset & 3) * 8))) : value;
}

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

    public readonly int Status => _status == 1005 || _bytes >= 2 ? _status : -1;

    public void OnHeader(in WebSocketFrameHeader frame)
    {
        if (frame.Opcode == WebSocketOpcode.Close && _status < 0)
        {
            // RFC 6455 §7.1.5: a close frame without a body means "no status received".
            _status = frame.PayloadLength >= 2 ? 0 : 1005;
            _bytes = 0;
        }
    }

    public void OnPayload(in WebSocketFrameHeader frame, ReadOnlySpan<byte> payload, ulong offset)
    {
        if (frame.Opcode != WebSocketOpcode.Close || offset >= 2 || _bytes >= 2 || _status == 1005)
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
