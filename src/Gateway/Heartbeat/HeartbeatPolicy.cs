using Gateway.Sessions;

namespace Gateway.Heartbeat;

/// <summary>What the heartbeat does to a session at one look.</summary>
internal enum HeartbeatAction : byte
{
    /// <summary>Nothing yet; look again at <see cref="HeartbeatDecision.NextCheck"/>.</summary>
    Keep,

    /// <summary>Tier 1: the client has been silent for the probe interval; ping it.</summary>
    Ping,

    /// <summary>Tier 2: a ping went unanswered for the pong timeout; close 1001 and abort.</summary>
    EvictUnresponsive,

    /// <summary>
    /// As tier 2, but the pong could not be seen: a write to the backend has waited since before the ping (the backend
    /// stopped reading, and the client's bytes, its pong among them, wait behind it). Close 1011 to the client.
    /// </summary>
    EvictBackendStalled,

    /// <summary>Tier 3: no application message for the idle timeout; close 1001 to both sides.</summary>
    EvictIdle,

    /// <summary>A close the gateway started did not finish in time; abort the connection.</summary>
    Abort,
}

/// <summary>The action, when to look again (a timestamp), and the tier the session is in.</summary>
internal readonly record struct HeartbeatDecision(HeartbeatAction Action, long NextCheck, SessionTier Tier);

/// <summary>Whether the gateway is above its high watermark, and how much idle limits shrink then.</summary>
internal readonly record struct HeartbeatPressure(bool Active, double IdleFactor)
{
    public static HeartbeatPressure None => new(false, 1);
}

/// <summary>
/// The heartbeat's decision for one session, as a pure function of the session's timestamps, its route's policy,
/// the time and the pressure: no timers, no sockets (like YARP's passive health policies), so every tier is
/// unit-tested by moving a number.
/// </summary>
internal static class HeartbeatPolicy
{
    /// <summary>How often sessions of a route without heartbeat, and aborted ones not yet gone, are looked at again.</summary>
    public const long UnwatchedRecheckSeconds = 60;

    public static HeartbeatDecision Evaluate(Session session, long now, in HeartbeatPressure pressure, long frequency)
    {
        if (session.GatewayCloseReason is not null)
        {
            var deadline = session.CloseDeadline;
            return now >= deadline
                ? new HeartbeatDecision(HeartbeatAction.Abort, now + (UnwatchedRecheckSeconds * frequency), SessionTier.Closing)
                : new HeartbeatDecision(HeartbeatAction.Keep, deadline, SessionTier.Closing);
        }

        var policy = session.Policy;
        if (!policy.Heartbeat)
        {
            return new HeartbeatDecision(HeartbeatAction.Keep, now + (UnwatchedRecheckSeconds * frequency), SessionTier.Active);
        }

        var lastInbound = session.LastInboundTimestamp;
        var lastMessage = session.LastMessageTimestamp;
        var idleLimit = policy.IdleTimeout;
        if (idleLimit > 0 && pressure.Active)
        {
            idleLimit = Math.Max(1, (long)(idleLimit * pressure.IdleFactor));
        }

        var idleDeadline = idleLimit > 0 ? lastMessage + idleLimit : long.MaxValue;
        if (now >= idleDeadline)
        {
            return new HeartbeatDecision(HeartbeatAction.EvictIdle, now + frequency, SessionTier.Idle);
        }

        var probeAfter = policy.ProbeAfterFor(session.RoundTripTicks, session.Id);
        var pingSent = session.PingSentTimestamp;
        if (pingSent != 0 && lastInbound < pingSent)
        {
            var pongDeadline = pingSent + policy.PongTimeout;
            var backendWaitingSince = session.BackendWriteWaitingSince;
            return now >= pongDeadline
                ? new HeartbeatDecision(
                    backendWaitingSince != 0 && backendWaitingSince <= pingSent ? HeartbeatAction.EvictBackendStalled : HeartbeatAction.EvictUnresponsive,
                    now + frequency,
                    SessionTier.Probing)
                : new HeartbeatDecision(HeartbeatAction.Keep, Math.Min(pongDeadline, idleDeadline), SessionTier.Probing);
        }

        var tier = now - lastMessage >= probeAfter ? SessionTier.Idle : SessionTier.Active;
        var probeAt = lastInbound + probeAfter;
        if (now >= probeAt)
        {
            return new HeartbeatDecision(HeartbeatAction.Ping, Math.Min(now + policy.PongTimeout, idleDeadline), SessionTier.Probing);
        }

        return new HeartbeatDecision(HeartbeatAction.Keep, Math.Min(probeAt, idleDeadline), tier);
    }
}
