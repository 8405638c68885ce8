using Gateway.Frames;

namespace Gateway.Sessions;

/// <summary>
/// A route's rules for its sessions, resolved once per route configuration (route metadata over the gateway-wide
/// settings) and shared by every session of the route. Durations are in <see cref="TimeProvider"/> timestamp
/// ticks, so the heartbeat compares them with timestamps without converting.
/// </summary>
internal sealed class SessionRoutePolicy
{
    /// <summary>No limits, no heartbeat: what a session gets when nothing was resolved (tests, tools).</summary>
    public static readonly SessionRoutePolicy Default = new(ClientFrameLimits.Unlimited, heartbeat: false, 0, 0, 0, 0, 0, closeTimeout: 5 * TimeProvider.System.TimestampFrequency);

    /// <param name="probeJitter">Fraction (0 to 0.5) by which each session's probe interval is shortened, by its id.</param>

    public SessionRoutePolicy(ClientFrameLimits limits, bool heartbeat, long probeAfter, long pongTimeout, long idleTimeout, long minProbeAfter, int roundTripMultiplier, long closeTimeout, double probeJitter = 0)
    {
        ProbeJitter = probeJitter;
        CloseTimeout = closeTimeout;
        Limits = limits;
        Heartbeat = heartbeat;
        ProbeAfter = probeAfter;
        PongTimeout = pongTimeout;
        IdleTimeout = idleTimeout;
        MinProbeAfter = minProbeAfter;
        RoundTripMultiplier = roundTripMultiplier;
    }

    public ClientFrameLimits Limits { get; }

    /// <summary>The heartbeat pings and evicts this route's sessions.</summary>
    public bool Heartbeat { get; }

    /// <summary>Silence from the client after which it is pinged (tier 1).</summary>
    public long ProbeAfter { get; }

    /// <summary>Time after a ping within which any frame must come back (tier 2).</summary>
    public long PongTimeout { get; }

    /// <summary>Time without an application message after which the session is closed (tier 3); 0 = off.</summary>
    public long IdleTimeout { get; }

    /// <summary>With <see cref="RoundTripMultiplier"/>: the shortest probe interval adaptation may choose.</summary>
    public long MinProbeAfter { get; }

    /// <summary>
    /// Adaptive probing: the probe interval follows this many measured round trips, clamped to
    /// [<see cref="MinProbeAfter"/>, <see cref="ProbeAfter"/>]; 0 = a fixed interval.
    /// </summary>
    public int RoundTripMultiplier { get; }

    /// <summary>How long a close the gateway started may take before the client's connection is aborted.</summary>
    public long CloseTimeout { get; }

    /// <summary>
    /// Each session's probe interval is shortened by up to this fraction, fixed per session (from its id): sessions
    /// that connected together (after a deploy, a reconnect storm) drift apart instead of being pinged in the same
    /// tick forever. Never lengthened, so the interval stays below the load balancer's idle timeout.
    /// </summary>
    public double ProbeJitter { get; }

    /// <summary>The probe interval for session <paramref name="sessionId"/>, whose last round trip took <paramref name="roundTrip"/> ticks.</summary>
    public long ProbeAfterFor(long roundTrip, long sessionId = 0)
    {
        var probe = ProbeAfter;
        if (RoundTripMultiplier != 0 && roundTrip > 0)
        {
            var adapted = roundTrip > ProbeAfter / RoundTripMultiplier ? ProbeAfter : roundTrip * RoundTripMultiplier;
            probe = Math.Clamp(adapted, MinProbeAfter, ProbeAfter);
        }

        if (ProbeJitter > 0)
        {
            // Fibonacci hashing spreads consecutive ids evenly over [0, 1).
            var spread = ((ulong)sessionId * 11400714819323198485UL >> 11) / (double)(1UL << 53);
            probe -= (long)(probe * ProbeJitter * spread);
        }

        return probe;
    }
}
