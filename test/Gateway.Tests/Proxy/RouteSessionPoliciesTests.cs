using Gateway.Frames;
using Gateway.Heartbeat;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Tests.Proxy;

/// <summary>Route metadata over cluster metadata over the gateway-wide settings, resolved once per route config.</summary>
public sealed class RouteSessionPoliciesTests
{
    private static readonly ManualTimeProvider Time = new();

    [Fact]
    public void NoMetadata_TheGatewayWideSettings()
    {
        var policies = TestServices.RouteSessionPolicies(
            new WebSocketSessionOptions { MaxFrameSize = 2000, MaxMessageSize = 9000, IdleTimeout = TimeSpan.FromMinutes(5) },
            new HeartbeatOptions { ProbeAfter = TimeSpan.FromSeconds(20), PongTimeout = TimeSpan.FromSeconds(7) },
            Time);

        var policy = policies.For(Route(), Cluster());

        Assert.Equal(new ClientFrameLimits(2000, 9000), policy.Limits);
        Assert.True(policy.Heartbeat);
        Assert.Equal(Seconds(20), policy.ProbeAfter);
        Assert.Equal(Seconds(7), policy.PongTimeout);
        Assert.Equal(Seconds(300), policy.IdleTimeout);
        Assert.Equal(0, policy.RoundTripMultiplier);
    }

    [Fact]
    public void RouteMetadata_OverridesClusterMetadata_OverridesTheSettings()
    {
        var policies = TestServices.RouteSessionPolicies(new WebSocketSessionOptions { IdleTimeout = TimeSpan.FromMinutes(5) }, time: Time);
        var cluster = Cluster(("Gateway.IdleTimeout", "00:01:00"));

        Assert.Equal(Seconds(60), policies.For(Route(), cluster).IdleTimeout);
        Assert.Equal(Seconds(30), policies.For(Route(("Gateway.IdleTimeout", "00:00:30")), cluster).IdleTimeout);
        Assert.Equal(0, policies.For(Route(("Gateway.IdleTimeout", "off")), cluster).IdleTimeout);
        Assert.Equal(0, policies.For(Route(), Cluster(("Gateway.IdleTimeout", "off"))).IdleTimeout);

        var custom = policies.For(
            Route(("Gateway.MaxFrameSize", "4096"), ("Gateway.MaxMessageSize", "65536"), ("Gateway.ProbeAfter", "00:00:10"), ("Gateway.PongTimeout", "00:00:03"), ("Gateway.AdaptiveProbe", "true")),
            cluster);
        Assert.Equal(new ClientFrameLimits(4096, 65536), custom.Limits);
        Assert.Equal(Seconds(10), custom.ProbeAfter);
        Assert.Equal(Seconds(3), custom.PongTimeout);
        Assert.Equal(new HeartbeatOptions().Adaptive.RoundTripMultiplier, custom.RoundTripMultiplier);
        Assert.False(policies.For(Route(("Gateway.Heartbeat", "off")), cluster).Heartbeat);
    }

    [Fact]
    public void HeartbeatDisabledGatewayWide_NoRouteHasIt()
    {
        var policies = TestServices.RouteSessionPolicies(heartbeat: new HeartbeatOptions { Enabled = false }, time: Time);
        Assert.False(policies.For(Route(("Gateway.Heartbeat", "on")), Cluster()).Heartbeat);
    }

    [Fact]
    public void SameRouteConfig_ResolvedOnce_ANewConfigObjectResolvesAgain()
    {
        var policies = TestServices.RouteSessionPolicies(time: Time);
        var route = Route(("Gateway.MaxFrameSize", "4096"));
        var cluster = Cluster();

        Assert.Same(policies.For(route, cluster), policies.For(route, cluster));
        Assert.NotSame(policies.For(route, cluster), policies.For(route with { }, cluster));
    }

    [Fact]
    public void Validate_ReportsEveryBadKey()
    {
        var errors = RouteSessionPolicies_Validate(
            ("Gateway.MaxFrameSize", "12"),
            ("Gateway.MaxMessageSize", "-1"),
            ("Gateway.ProbeAfter", "00:00:00.01"),
            ("Gateway.PongTimeout", "x"),
            ("Gateway.IdleTimeout", "sometimes"),
            ("Gateway.AdaptiveProbe", "yes"),
            ("Gateway.Heartbeat", "auto"));

        Assert.Equal(7, errors.Count);
    }

    private static List<string> RouteSessionPolicies_Validate(params (string Key, string Value)[] metadata)
        => Gateway.Proxy.RouteSessionPolicies.Validate(metadata.ToDictionary(m => m.Key, m => m.Value));

    private static long Seconds(double seconds) => (long)(seconds * Time.TimestampFrequency);

    private static RouteConfig Route(params (string Key, string Value)[] metadata)
        => new() { RouteId = "r", ClusterId = "c", Metadata = metadata.ToDictionary(m => m.Key, m => m.Value) };

    private static ClusterConfig Cluster(params (string Key, string Value)[] metadata)
        => new() { ClusterId = "c", Metadata = metadata.ToDictionary(m => m.Key, m => m.Value) };
}
