using Yarp.ReverseProxy.Configuration;

namespace Gateway.Resilience;

/// <summary>
/// Route metadata of backend protection: <c>Gateway.FallbackCluster</c> names a cluster that takes the route's
/// new sessions only while the route's own cluster has no destination available (a degraded-mode backend, a
/// read-only replica, a "we'll be right back" service). Sessions sent there are tagged degraded.
/// </summary>
internal static class RouteResiliencePolicy
{
    public const string FallbackClusterMetadata = "Gateway.FallbackCluster";

    public static string? FallbackClusterOf(RouteConfig route)
        => route.Metadata is { } metadata && metadata.TryGetValue(FallbackClusterMetadata, out var id) && !string.IsNullOrWhiteSpace(id) ? id.Trim() : null;

    public static IEnumerable<string> Validate(RouteConfig route, Func<string, bool> clusterExists)
    {
        if (route.Metadata is null || !route.Metadata.TryGetValue(FallbackClusterMetadata, out var text))
        {
            yield break;
        }

        var id = text?.Trim();
        if (string.IsNullOrEmpty(id))
        {
            yield return $"metadata '{FallbackClusterMetadata}' is empty; name a cluster or remove it.";
        }
        else if (string.Equals(id, route.ClusterId, StringComparison.OrdinalIgnoreCase))
        {
            yield return $"metadata '{FallbackClusterMetadata}' names the route's own cluster '{id}'; a fallback must be another cluster.";
        }
        else if (!clusterExists(id))
        {
            yield return $"metadata '{FallbackClusterMetadata}' references cluster '{id}', which is not defined under ReverseProxy:Clusters.";
        }
    }
}
