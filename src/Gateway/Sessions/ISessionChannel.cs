namespace Gateway.Sessions;

/// <summary>How the gateway acts on a session's streams; implemented by the relay (the session stream).</summary>
internal interface ISessionChannel
{
    /// <summary>Queues a ping to the client at the next frame boundary; false if one cannot be sent now.</summary>
    bool SendPing(long timestamp);

    /// <summary>
    /// Closes the session from the gateway: a close frame with <paramref name="status"/> and
    /// <paramref name="reason"/> to the client and 1001 to the backend, each at its stream's next frame boundary.
    /// The peers' close replies end the relay; <see cref="Abort"/> is for when they do not come.
    /// </summary>
    void Close(int status, string reason);

    /// <summary>
    /// Ends the session backend first (a drain): the client's frames stop being passed on, the backend gets close
    /// 1001 with <paramref name="reason"/> after the last whole frame accepted from the client, and its answer (what
    /// it still sends, then its close frame) reaches the client as usual. Nothing accepted in either direction is
    /// lost; <see cref="Abort"/> is for when the answer does not come.
    /// </summary>
    void GoAway(string reason);

    /// <summary>Aborts the client's transport now (a close handshake that did not finish in time).</summary>
    void Abort();
}
