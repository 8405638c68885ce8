namespace Gateway.Sessions;

/// <summary>
/// One row of the session-end table (<see cref="SessionEnds"/>): why a session ended, its metric and log tag, whom the
/// gateway tells and in which order, with which close status and reason to each side, and how long the close
/// handshake may take before the connection is aborted.
/// </summary>
/// <param name="ClientText">The reason the client reads; empty where the detail of the end says it (a refused frame's rule).</param>
/// <param name="AbortAfterOneTick">The close is a formality (the client stopped answering): abort one heartbeat tick later.</param>
internal sealed record SessionEnd(
    SessionCloseReason Reason,
    string Tag,
    SessionCloseOrder Order,
    int ClientStatus,
    string ClientText,
    int BackendStatus,
    string BackendText,
    bool AbortAfterOneTick = false)
{
    /// <summary>The client's close frame, encoded once per row (unmasked).</summary>
    public byte[] ClientFrame { get; } = ClientStatus == 0 ? [] : Frames.CloseFrame.ForClient(ClientStatus, ClientText);

    /// <summary>The client's close frame, with <paramref name="detail"/> as its reason where the row leaves the reason open.</summary>
    public byte[] ClientFrameWith(string? detail)
        => ClientText.Length == 0 && detail is not null ? Frames.CloseFrame.ForClient(ClientStatus, detail) : ClientFrame;
}
