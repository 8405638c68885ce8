namespace Gateway.Frames;

/// <summary>
/// Receives what <see cref="WebSocketFrameParser"/> finds. Payload is handed over as slices of the caller's
/// buffer, exactly as it is on the wire (still masked), so observing a stream never copies it. Positions are
/// indexes into the span being parsed, so a caller can cut, keep or hold back whole frames in place.
/// </summary>
internal interface IWebSocketFrameHandler
{
    /// <param name="headerStart">Index of the header's first byte (negative when it began in an earlier call).</param>
    /// <returns>False to refuse the frame: parsing stops before its payload.</returns>
    bool OnFrameHeader(in WebSocketFrameHeader frame, int headerStart);

    /// <param name="offset">Offset of <paramref name="payload"/>'s first byte within the frame's payload.</param>
    void OnPayload(in WebSocketFrameHeader frame, ReadOnlySpan<byte> payload, ulong offset);

    /// <param name="end">Index just past the frame's last byte.</param>
    void OnFrameEnd(in WebSocketFrameHeader frame, int end);
}
