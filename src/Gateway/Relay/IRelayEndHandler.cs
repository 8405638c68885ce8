using Gateway.Sessions;

namespace Gateway.Relay;

/// <summary>Told when a session's relay has stopped, before the client transport is disposed; aborts it on request.</summary>
internal interface IRelayEndHandler
{
    /// <summary>A last frame for the client (e.g. a close frame), or empty for none.</summary>
    /// <param name="atFrameBoundary">The stream to the client ends between two frames (a frame can still be added).</param>
    ReadOnlyMemory<byte> OnRelayEnded(Session session, bool atFrameBoundary);

    /// <summary>Aborts the client's connection (an unresponsive client, a close handshake that never finished).</summary>
    void AbortClient();

    /// <summary>The client's connection was aborted (reset, or ended without a close) as the server sees it.</summary>
    bool ClientAborted { get; }
}
