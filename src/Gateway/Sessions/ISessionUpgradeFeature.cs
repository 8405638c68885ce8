namespace Gateway.Sessions;

/// <summary>
/// The session a WebSocket upgrade request starts, as the steps of the proxy pipeline see it (a request feature):
/// admission holds a slot for it, the breaker judges its first seconds. On the YARP path a step's own frame awaits
/// the relay and lets go when it returns; on the lean path (docs/architecture.md) the session outlives the request,
/// so what the steps hold goes to the session's end instead.
/// </summary>
internal interface ISessionUpgradeFeature
{
    /// <summary>The session, once the upgrade has succeeded (read from other threads, e.g. the upgrade watch).</summary>
    Session? Session { get; }

    /// <summary>The session started and left the request: the pipeline returns while it goes on.</summary>
    bool OutlivesRequest { get; }

    /// <summary>Lets go of something at the session's end instead of when the pipeline returns.</summary>
    void OnEnded(ISessionEndListener listener);

    /// <summary>Why a session relayed inside the request ended, once the relay has returned (YARP path).</summary>
    SessionCloseReason JudgeEnd(Session session);
}
