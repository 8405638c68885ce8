namespace Gateway.Sessions;

/// <summary>Why a session ended; the <c>reason</c> label of <c>gateway_sessions_closed_total</c>.</summary>
internal enum SessionCloseReason
{
    /// <summary>The client sent the first close frame.</summary>
    ClientClose,

    /// <summary>The backend sent the first close frame.</summary>
    BackendClose,

    /// <summary>
    /// The gateway closed the session after the idle timeout: no application message in either direction (tier 3
    /// of the heartbeat), or, with the heartbeat off, no byte at all for the cluster's activity timeout.
    /// </summary>
    IdleTimeout,

    /// <summary>The client's connection ended (reset, dropped, a failed write) without a close frame.</summary>
    ClientLost,

    /// <summary>
    /// The backend's connection ended without a close frame (the backend crashed, was killed, or the network
    /// dropped); the gateway closed the client with 1011 or 1012 where it could.
    /// </summary>
    BackendLost,

    /// <summary>The client stopped answering: no frame within the pong timeout after a gateway ping (tier 2).</summary>
    HeartbeatTimeout,

    /// <summary>The gateway shed the session, coldest first, because active sessions passed the high watermark (tier 4).</summary>
    Pressure,

    /// <summary>The client sent a frame RFC 6455 forbids; it got close 1002.</summary>
    ProtocolError,

    /// <summary>The client sent a frame or message over the route's limit; it got close 1009.</summary>
    MessageTooBig,

    /// <summary>The gateway was shutting down and told the session to go away (close 1001, through the backend).</summary>
    Drain,

    /// <summary>
    /// The backend stopped reading: a write of the client's bytes to it waited through a whole ping and pong timeout
    /// (so the client's pong, queued behind those bytes, could not be seen). Not the client's fault: it got 1011.
    /// </summary>
    BackendStalled,

    /// <summary>
    /// The session's destination left its cluster's configuration (a backend deploy, a scale-down): the gateway moves
    /// it off gently, spread across the destination drain window, telling the backend first.
    /// </summary>
    DestinationDrain,

    /// <summary>
    /// An operator closed it through the management API (<c>Management/AdminApi</c>), with the status and reason asked
    /// for; the backend is told first, as in a drain.
    /// </summary>
    Operator,
}
