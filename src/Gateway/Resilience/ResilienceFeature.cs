using Yarp.ReverseProxy.Model;

namespace Gateway.Resilience;

/// <summary>What one attempt of an upgrade came to, as the retry loop needs to know it.</summary>
internal enum AttemptResult
{
    /// <summary>The backend was reached (whatever it answered), or nothing was tried.</summary>
    Forwarded,

    /// <summary>The destination's breaker refused the attempt (open, or its half-open trial is in flight).</summary>
    BreakerRejected,

    /// <summary>Connecting to the destination failed: nothing reached a backend.</summary>
    ConnectFailed,
}

/// <summary>Per-request state shared by <see cref="ResilienceMiddleware"/> and <see cref="BreakerMiddleware"/>.</summary>
internal sealed class ResilienceFeature
{
    /// <summary>The session goes to the route's fallback cluster.</summary>
    public bool Degraded { get; set; }

    public AttemptResult Result { get; set; }

    public DestinationState? Destination { get; set; }

    public DestinationBreaker? Breaker { get; set; }

    public BackendFailure Failure { get; set; }
}
