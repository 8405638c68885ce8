using Gateway.Sessions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Proxy;

/// <summary>
/// Applies <see cref="ProxyConfigRules"/> to every configuration YARP loads, at start and on reload. A reload
/// that breaks a rule is rejected by YARP as a whole (it logs the error and keeps the running configuration).
/// </summary>
internal sealed class GatewayConfigFilter : IProxyConfigFilter
{
    private readonly IOptionsMonitor<WebSocketSessionOptions> _sessions;
    private readonly bool _heartbeat;

    public GatewayConfigFilter(IOptionsMonitor<WebSocketSessionOptions> sessions, IOptions<Heartbeat.HeartbeatOptions> heartbeat)
    {
        _sessions = sessions;
        _heartbeat = heartbeat.Value.Enabled;
    }

    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel)
    {
        var sessions = _sessions.CurrentValue;
        var errors = ProxyConfigRules.ValidateCluster(cluster, sessions);
        if (errors.Count > 0)
        {
            throw new InvalidOperationException($"Cluster '{cluster.ClusterId}': {string.Join(" ", errors)}");
        }

        return ValueTask.FromResult(ProxyConfigRules.ApplyDefaults(cluster, sessions, _heartbeat));
    }

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel)
    {
        // Only the route's own cluster is known here; a missing fallback cluster is reported when first needed.
        var errors = ProxyConfigRules.ValidateRoute(route, id => cluster is not null || !string.Equals(id, route.ClusterId, StringComparison.OrdinalIgnoreCase)).ToList();
        if (errors.Count > 0)
        {
            throw new InvalidOperationException($"Route '{route.RouteId}' {string.Join(" ", errors)}");
        }

        return ValueTask.FromResult(route);
    }
}
