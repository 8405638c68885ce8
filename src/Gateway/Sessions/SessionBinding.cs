namespace Gateway.Sessions;

/// <summary>
/// Where a session goes and under which rules: route, cluster, destination, fallback, policy. The same for
/// every session of a route on a destination, so one instance is shared by all of them (a session holds one
/// reference instead of five fields).
/// </summary>
internal sealed class SessionBinding
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Key, SessionBinding> Shared = new();

    /// <summary>Past this many (a long run of reloads and rollouts), the cache starts over.</summary>
    private const int MaxShared = 4096;

    private SessionBinding(Key key)
    {
        RouteId = key.RouteId;
        ClusterId = key.ClusterId;
        DestinationId = key.DestinationId;
        DestinationAddress = key.DestinationAddress;
        Degraded = key.Degraded;
        Policy = key.Policy;
    }

    public string RouteId { get; }

    public string ClusterId { get; }

    public string? DestinationId { get; }

    /// <summary>The destination's address when the session opened: the same id at another address later is another backend.</summary>
    public string? DestinationAddress { get; }

    public bool Degraded { get; }

    public SessionRoutePolicy Policy { get; }

    public static SessionBinding Of(in SessionStartInfo info)
    {
        var key = new Key(info.RouteId, info.ClusterId, info.DestinationId, info.DestinationAddress, info.Degraded, info.Policy ?? SessionRoutePolicy.Default);
        if (Shared.TryGetValue(key, out var binding))
        {
            return binding;
        }

        if (Shared.Count >= MaxShared)
        {
            Shared.Clear();
        }

        return Shared.GetOrAdd(key, static key => new SessionBinding(key));
    }

    private readonly record struct Key(string RouteId, string ClusterId, string? DestinationId, string? DestinationAddress, bool Degraded, SessionRoutePolicy Policy);
}
