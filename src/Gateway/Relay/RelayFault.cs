namespace Gateway.Relay;

/// <summary>
/// How a session's relay ended, as far as its transports tell (a close frame, when there was one, tells more: see
/// the session policy). The YARP path reports YARP's forwarder error in these terms; the lean path its own loop's.
/// </summary>
internal enum RelayFault : byte
{
    /// <summary>Both directions ended cleanly (an end of stream, a close handshake).</summary>
    None,

    /// <summary>Reading from the client failed first (a reset), or the relay was cancelled because the client left.</summary>
    ClientRead,

    /// <summary>Writing to the client failed first.</summary>
    ClientWrite,

    /// <summary>Reading from the backend failed first.</summary>
    BackendRead,

    /// <summary>Writing to the backend failed first.</summary>
    BackendWrite,

    /// <summary>No byte either way for the cluster's activity timeout (the YARP path with the heartbeat off).</summary>
    ActivityTimeout,
}
