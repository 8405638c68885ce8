using System.Globalization;
using Gateway.Admission;
using Gateway.Resilience;
using Gateway.Sessions;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Proxy;

/// <summary>
/// What the gateway adds to YARP's own route and cluster rules, shared by the start-up validator (which
/// reports every problem at once) and <see cref="GatewayConfigFilter"/> (which applies them on every reload).
/// Messages name the offending setting but not the route or cluster: both callers prefix that.
/// </summary>
internal static class ProxyConfigRules
{
    /// <summary>Cluster metadata key: idle timeout of the cluster's sessions, overriding <c>Gateway:Sessions:IdleTimeout</c>.</summary>
    public const string IdleTimeoutMetadata = "Gateway.IdleTimeout";

    /// <summary>"off" in <see cref="IdleTimeoutMetadata"/> keeps a cluster's quiet sessions open whatever the global setting.</summary>
    public const string Off = "off";

    /// <summary>
    /// YARP's default is "HealthyOrPanic": with every destination unhealthy it sends traffic to all of them.
    /// For a gateway a fast 503 is better than piling sessions onto backends known to be down.
    /// </summary>
    public const string DefaultAvailableDestinationsPolicy = "HealthyAndUnknown";

    public static IEnumerable<string> ValidateRoute(RouteConfig route, Func<string, bool> clusterExists)
    {
        if (string.IsNullOrEmpty(route.ClusterId))
        {
            yield return "has no ClusterId; every gateway route must name a cluster.";
        }
        else if (!clusterExists(route.ClusterId))
        {
            yield return $"references cluster '{route.ClusterId}', which is not defined under ReverseProxy:Clusters.";
        }

        RouteAdmissionPolicy.Parse(route.Metadata, out var admissionErrors);
        foreach (var error in admissionErrors)
        {
            yield return error;
        }

        foreach (var error in RouteResiliencePolicy.Validate(route, clusterExists))
        {
            yield return error;
        }

        foreach (var error in RouteSessionPolicies.Validate(route.Metadata))
        {
            yield return error;
        }
    }

    public static List<string> ValidateCluster(ClusterConfig cluster, WebSocketSessionOptions sessions)
    {
        var errors = new List<string>();
        if (!TryGetIdleTimeout(cluster, sessions, out var idle, out var error))
        {
            errors.Add(error);
            return errors;
        }

        Balancing.ConsistentHashSettings.Parse(cluster.Metadata, out var hashErrors);
        errors.AddRange(hashErrors);
        Drain.DestinationDrain.WindowOf(cluster, TimeSpan.Zero, out var windowError);
        if (windowError is not null)
        {
            errors.Add(windowError);
        }

        if (cluster.HttpRequest?.ActivityTimeout is { } explicitTimeout)
        {
            if (explicitTimeout <= TimeSpan.Zero && explicitTimeout != Timeout.InfiniteTimeSpan)
            {
                errors.Add($"HttpRequest.ActivityTimeout must be positive (was {explicitTimeout}).");
            }
            else if (explicitTimeout != Timeout.InfiniteTimeSpan && (idle is null || explicitTimeout < idle))
            {
                errors.Add($"HttpRequest.ActivityTimeout {explicitTimeout} would close quiet WebSocket sessions "
                    + $"before the session idle timeout ({(idle is null ? "off" : idle.Value.ToString())}). Remove it: the gateway derives it from "
                    + $"Gateway:Sessions:IdleTimeout or the cluster's '{IdleTimeoutMetadata}' metadata.");
            }
        }

        return errors;
    }

    /// <summary>
    /// The cluster as the gateway runs it: derived activity timeout, no-panic destination policy, and passive
    /// health driven by the destination circuit breakers.
    /// </summary>
    /// <param name="heartbeat">The heartbeat enforces idle timeouts (then YARP's activity timeout stays off).</param>
    public static ClusterConfig ApplyDefaults(ClusterConfig cluster, WebSocketSessionOptions sessions, bool heartbeat = false)
    {
        TimeSpan? idle = null;
        if (!heartbeat)
        {
            TryGetIdleTimeout(cluster, sessions, out idle, out _);
        }

        var request = cluster.HttpRequest ?? new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig();
        var healthCheck = cluster.HealthCheck ?? new HealthCheckConfig();
        return cluster with
        {
            HttpRequest = request with { ActivityTimeout = DeriveActivityTimeout(request.ActivityTimeout, idle) },
            HealthCheck = healthCheck with
            {
                AvailableDestinationsPolicy = healthCheck.AvailableDestinationsPolicy ?? DefaultAvailableDestinationsPolicy,
                // Circuit breakers report through passive health, which YARP only heeds when it is enabled.
                Passive = healthCheck.Passive ?? new PassiveHealthCheckConfig { Enabled = true, Policy = BreakerPassiveHealthPolicy.PolicyName },
            },
        };
    }

    /// <summary>
    /// YARP closes a WebSocket after <c>ActivityTimeout</c> without a read or write (100 s by default), and
    /// bytes the gateway itself exchanges with a client (pings, pongs) never reach YARP's copy loop. So with the
    /// heartbeat on it is infinite (the heartbeat's tiers close idle and dead sessions, and never before YARP
    /// would); with it off, it is the session idle timeout, or infinite when that is off. Infinite also means
    /// YARP keeps no timer per session.
    /// </summary>
    public static TimeSpan DeriveActivityTimeout(TimeSpan? explicitTimeout, TimeSpan? idleTimeout)
        => explicitTimeout ?? idleTimeout ?? Timeout.InfiniteTimeSpan;

    public static bool TryGetIdleTimeout(ClusterConfig cluster, WebSocketSessionOptions sessions, out TimeSpan? idle, out string error)
    {
        error = "";
        idle = sessions.IdleTimeout;
        if (cluster.Metadata is null || !cluster.Metadata.TryGetValue(IdleTimeoutMetadata, out var text))
        {
            return true;
        }

        if (string.Equals(text, Off, StringComparison.OrdinalIgnoreCase))
        {
            idle = null;
            return true;
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var parsed) && parsed > TimeSpan.Zero)
        {
            idle = parsed;
            return true;
        }

        error = $"metadata '{IdleTimeoutMetadata}' = '{text}' is neither a positive time span (hh:mm:ss) nor 'off'.";
        return false;
    }
}
