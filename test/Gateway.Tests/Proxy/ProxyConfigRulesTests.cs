using Gateway.Proxy;
using Gateway.Sessions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Tests.Proxy;

public sealed class ProxyConfigRulesTests
{
    private static readonly WebSocketSessionOptions NoIdleTimeout = new();
    private static readonly WebSocketSessionOptions TenMinutes = new() { IdleTimeout = TimeSpan.FromMinutes(10) };

    [Fact]
    public void ApplyDefaults_NoIdleTimeout_ActivityTimeoutIsInfinite_NotYarps100Seconds()
    {
        var cluster = ProxyConfigRules.ApplyDefaults(new ClusterConfig { ClusterId = "c" }, NoIdleTimeout);

        Assert.Equal(Timeout.InfiniteTimeSpan, cluster.HttpRequest!.ActivityTimeout);
        Assert.Equal("HealthyAndUnknown", cluster.HealthCheck!.AvailableDestinationsPolicy);
    }

    [Fact]
    public void ApplyDefaults_IdleTimeout_BecomesTheActivityTimeout_MetadataOverridesIt()
    {
        Assert.Equal(TimeSpan.FromMinutes(10), ProxyConfigRules.ApplyDefaults(new ClusterConfig { ClusterId = "c" }, TenMinutes).HttpRequest!.ActivityTimeout);

        var withMetadata = new ClusterConfig { ClusterId = "c", Metadata = new Dictionary<string, string> { ["Gateway.IdleTimeout"] = "00:00:30" } };
        Assert.Equal(TimeSpan.FromSeconds(30), ProxyConfigRules.ApplyDefaults(withMetadata, TenMinutes).HttpRequest!.ActivityTimeout);

        var off = new ClusterConfig { ClusterId = "c", Metadata = new Dictionary<string, string> { ["Gateway.IdleTimeout"] = "off" } };
        Assert.Equal(Timeout.InfiniteTimeSpan, ProxyConfigRules.ApplyDefaults(off, TenMinutes).HttpRequest!.ActivityTimeout);
    }

    [Fact]
    public void ApplyDefaults_WithTheHeartbeat_ActivityTimeoutStaysOff_TheHeartbeatEnforcesIdleTimeouts()
    {
        var withMetadata = new ClusterConfig { ClusterId = "c", Metadata = new Dictionary<string, string> { ["Gateway.IdleTimeout"] = "00:00:30" } };
        Assert.Equal(Timeout.InfiniteTimeSpan, ProxyConfigRules.ApplyDefaults(withMetadata, TenMinutes, heartbeat: true).HttpRequest!.ActivityTimeout);
        Assert.Equal(Timeout.InfiniteTimeSpan, ProxyConfigRules.ApplyDefaults(new ClusterConfig { ClusterId = "c" }, TenMinutes, heartbeat: true).HttpRequest!.ActivityTimeout);
    }

    [Fact]
    public void ApplyDefaults_KeepsWhatTheClusterSetsItself()
    {
        var cluster = new ClusterConfig
        {
            ClusterId = "c",
            HttpRequest = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromHours(1), Version = new Version(2, 0) },
            HealthCheck = new HealthCheckConfig { AvailableDestinationsPolicy = "HealthyOrPanic" },
        };

        var applied = ProxyConfigRules.ApplyDefaults(cluster, TenMinutes);

        Assert.Equal(TimeSpan.FromHours(1), applied.HttpRequest!.ActivityTimeout);
        Assert.Equal(new Version(2, 0), applied.HttpRequest.Version);
        Assert.Equal("HealthyOrPanic", applied.HealthCheck!.AvailableDestinationsPolicy);
    }

    [Theory]
    [InlineData("00:01:40", null, true)] // YARP's 100 s set by hand, idle timeout off: it would close quiet sessions.
    [InlineData("00:05:00", "00:10:00", true)] // Shorter than the idle timeout.
    [InlineData("00:10:00", "00:10:00", false)]
    [InlineData("01:00:00", "00:10:00", false)]
    [InlineData("-00:00:01", "00:10:00", true)]
    public void ValidateCluster_ExplicitActivityTimeout_MustNotUndercutTheIdleTimeout(string activity, string? idle, bool error)
    {
        var cluster = new ClusterConfig { ClusterId = "c", HttpRequest = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.Parse(activity, System.Globalization.CultureInfo.InvariantCulture) } };
        var sessions = new WebSocketSessionOptions { IdleTimeout = idle is null ? null : TimeSpan.Parse(idle, System.Globalization.CultureInfo.InvariantCulture) };

        Assert.Equal(error, ProxyConfigRules.ValidateCluster(cluster, sessions).Count > 0);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("-00:00:05")]
    [InlineData("00:00:00")]
    public void ValidateCluster_BadIdleTimeoutMetadata_IsAnError(string value)
    {
        var cluster = new ClusterConfig { ClusterId = "c", Metadata = new Dictionary<string, string> { ["Gateway.IdleTimeout"] = value } };
        var error = Assert.Single(ProxyConfigRules.ValidateCluster(cluster, NoIdleTimeout));
        Assert.Contains("Gateway.IdleTimeout", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidateCluster_HashCookieAffinity_IsAccepted()
    {
        var cluster = new ClusterConfig { ClusterId = "c", SessionAffinity = new SessionAffinityConfig { Enabled = true, Policy = "HashCookie", AffinityKeyName = "k" } };
        Assert.Empty(ProxyConfigRules.ValidateCluster(cluster, NoIdleTimeout));
    }

    [Fact]
    public void ValidateRoute_MissingOrAbsentCluster_IsAnError()
    {
        Assert.Single(ProxyConfigRules.ValidateRoute(new RouteConfig { RouteId = "r", ClusterId = "nope" }, _ => false));
        Assert.Single(ProxyConfigRules.ValidateRoute(new RouteConfig { RouteId = "r" }, _ => true));
        Assert.Empty(ProxyConfigRules.ValidateRoute(new RouteConfig { RouteId = "r", ClusterId = "yes" }, id => id == "yes"));
    }
}
