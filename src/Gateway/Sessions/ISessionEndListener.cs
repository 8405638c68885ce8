namespace Gateway.Sessions;

/// <summary>
/// Something a step of the handshake holds for the session's life and lets go when the session ends: an admission
/// slot, a breaker's judgement still waiting for the early-abort window. On the YARP path the step's own pipeline
/// frame does it when the relay returns; on the lean path that frame is gone, so the session end calls it.
/// </summary>
internal interface ISessionEndListener
{
    void OnSessionEnded(Session session, SessionCloseReason reason);
}
