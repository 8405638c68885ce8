namespace Gateway.Sessions;

/// <summary>
/// Receives what <see cref="WebSocketFrameParser"/> finds. Payload is handed over as slices of the caller's
/// buffer, exactly as it is on the wire (still masked), so observing a stream never copies it.
/// </summary>
internal interface IWebSocketFrameHandler
{
    void OnFrameHeader(in WebSocketFrameHeader frame);

    /// <param name="offset">Offset of <paramref name="payload"/>'s first byte within the frame's payload.</param>
    void OnPayload(in WebSocketFrameHeader frame, ReadOnlySpan<byte> payload, ulong offset);

    void OnFrameEnd(in WebSocketFrameHeader frame);
}
