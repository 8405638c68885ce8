namespace Gateway.Management;

/// <summary><c>GET /admin/sessions/counts</c>: live sessions by route, cluster, destination and heartbeat tier, from one walk.</summary>
internal sealed record SessionCounts(
    int Total,
    IReadOnlyDictionary<string, int> ByRoute,
    IReadOnlyDictionary<string, int> ByCluster,
    IReadOnlyList<DestinationCount> ByDestination,
    IReadOnlyDictionary<string, int> ByTier);
