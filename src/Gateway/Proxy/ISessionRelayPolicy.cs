using Gateway.Relay;

namespace Gateway.Proxy;

/// <summary>Where a session goes (read when its upgrade succeeds) and how its end is judged; supplied by the proxy layer.</summary>
internal interface ISessionRelayPolicy : ISessionEndPolicy
{
    /// <summary>The cluster and destination the proxy chose.</summary>
    SessionTarget TargetOf(HttpContext context);
}
