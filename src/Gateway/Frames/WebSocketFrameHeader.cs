namespace Gateway.Frames;

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
