using Gateway.Sessions;

namespace Gateway.Relay;

/// <summary>How a session's end is judged and what the client is told last; the same on both paths.</summary>
internal interface ISessionEndPolicy
{
    /// <summary>Why the relay ended, from the session's close frames and the relay's outcome.</summary>
    SessionCloseReason ReasonFor(Session session, RelayFault fault);

    /// <summary>A last frame for the client once the relay has stopped, or empty.</summary>
    /// <param name="atFrameBoundary">The stream to the client ends between two frames.</param>
    ReadOnlyMemory<byte> FarewellFor(Session session, SessionCloseReason reason, bool atFrameBoundary);
}
