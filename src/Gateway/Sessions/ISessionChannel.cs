namespace Gateway.Sessions;

/// <summary>How the gateway acts on a session's streams; implemented by the relay's client leg (the session stream).</summary>
internal interface ISessionChannel
{
    /// <summary>Queues a ping to the client at the next frame boundary; false if one cannot be sent now.</summary>
    bool SendPing(long timestamp);

    /// <summary>
    /// Carries out a close the gateway started (<see cref="Session.BeginClose"/>), as the row of the session-end table
    /// says: its close frames (with <paramref name="detail"/> as the reason where the row leaves it to the detail) to
    /// the client, the backend or both, each at its stream's next frame boundary, or to the backend first (a drain).
    /// The peers' close replies end the relay; <see cref="Abort"/> is for when they do not come.
    /// </summary>
    void Close(SessionEnd end, string? detail);

    /// <summary>Aborts the client's transport now (a close handshake that did not finish in time).</summary>
    void Abort();
}
