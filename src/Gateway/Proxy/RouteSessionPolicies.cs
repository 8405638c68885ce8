using System.Globalization;
using System.Runtime.CompilerServices;
using Gateway.Admission;
using Gateway.Frames;
using Gateway.Heartbeat;
using Gateway.Sessions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Proxy;

/// <summary>
/// Resolves each route's <see cref="SessionRoutePolicy"/>: route metadata over cluster metadata over the
/// gateway-wide settings. Metadata keys on a route:
/// <list type="bullet">
/// <item><c>Gateway.MaxFrameSize</c>, <c>Gateway.MaxMessageSize</c>: bytes (over <c>Gateway:Sessions</c>).</item>
/// <item><c>Gateway.ProbeAfter</c>, <c>Gateway.PongTimeout</c>: time spans (over <c>Gateway:Heartbeat</c>).</item>
/// <item><c>Gateway.IdleTimeout</c>: a time span or "off" (also on a cluster; over <c>Gateway:Sessions:IdleTimeout</c>).</item>
/// <item><c>Gateway.AdaptiveProbe</c>: true to follow measured round trips; <c>Gateway.Heartbeat</c>: "off" to exempt the route.</item>
/// </list>
/// Resolved once per route configuration object (YARP replaces it on every reload) and shared by its sessions.
/// </summary>
internal sealed class RouteSessionPolicies
{
    public const string MaxFrameSizeMetadata = "Gateway.MaxFrameSize";
    public const string MaxMessageSizeMetadata = "Gateway.MaxMessageSize";
    public const string ProbeAfterMetadata = "Gateway.ProbeAfter";
    public const string PongTimeoutMetadata = "Gateway.PongTimeout";
    public const string AdaptiveProbeMetadata = "Gateway.AdaptiveProbe";
    public const string HeartbeatMetadata = "Gateway.Heartbeat";

    private readonly IOptionsMonitor<WebSocketSessionOptions> _sessions;
    private readonly HeartbeatOptions _heartbeat;
    private readonly long _frequency;
    private ConditionalWeakTable<RouteConfig, Entry> _cache = [];
    private WebSocketSessionOptions? _cachedFor;

    public RouteSessionPolicies(IOptionsMonitor<WebSocketSessionOptions> sessions, IOptions<HeartbeatOptions> heartbeat, TimeProvider timeProvider)
    {
        _sessions = sessions;
        _heartbeat = heartbeat.Value;
        _frequency = timeProvider.TimestampFrequency;
    }

    public SessionRoutePolicy For(RouteConfig route, ClusterConfig? cluster)
    {
        var sessions = _sessions.CurrentValue;
        if (!ReferenceEquals(sessions, Volatile.Read(ref _cachedFor)))
        {
            // The gateway-wide settings were reloaded: every route resolves again.
            Volatile.Write(ref _cache, []);
            Volatile.Write(ref _cachedFor, sessions);
        }

        var cache = Volatile.Read(ref _cache);
        if (cache.TryGetValue(route, out var entry) && ReferenceEquals(entry.Cluster, cluster))
        {
            return entry.Policy;
        }

        var policy = Resolve(route.Metadata, cluster, sessions);
        cache.AddOrUpdate(route, new Entry(cluster, policy));
        return policy;
    }

    private SessionRoutePolicy Resolve(IReadOnlyDictionary<string, string>? metadata, ClusterConfig? cluster, WebSocketSessionOptions sessions)
    {
        var errors = new List<string>();
        var maxFrame = ParseSize(metadata, MaxFrameSizeMetadata, errors) ?? sessions.MaxFrameSize;
        var maxMessage = ParseSize(metadata, MaxMessageSizeMetadata, errors) ?? sessions.MaxMessageSize;
        var probeAfter = ParseDuration(metadata, ProbeAfterMetadata, allowOff: false, errors) ?? _heartbeat.ProbeAfter;
        var pongTimeout = ParseDuration(metadata, PongTimeoutMetadata, allowOff: false, errors) ?? _heartbeat.PongTimeout;
        var idle = ParseDuration(metadata, ProxyConfigRules.IdleTimeoutMetadata, allowOff: true, errors);
        if (idle is null && cluster is not null && ProxyConfigRules.TryGetIdleTimeout(cluster, sessions, out var clusterIdle, out _))
        {
            idle = clusterIdle ?? TimeSpan.Zero;
        }

        idle ??= sessions.IdleTimeout ?? TimeSpan.Zero;
        var heartbeat = _heartbeat.Enabled && !IsOff(metadata, HeartbeatMetadata);
        var adaptive = RouteAdmissionPolicy.ParseFlag(metadata, AdaptiveProbeMetadata, errors);
        return new SessionRoutePolicy(
            new ClientFrameLimits(maxFrame, Math.Max(maxMessage, maxFrame)),
            heartbeat,
            Ticks(probeAfter),
            Ticks(pongTimeout),
            Ticks(idle.Value),
            Ticks(_heartbeat.Adaptive.MinProbeAfter),
            adaptive ? _heartbeat.Adaptive.RoundTripMultiplier : 0,
            Ticks(_heartbeat.CloseTimeout),
            _heartbeat.ProbeJitter);
    }

    /// <summary>Every problem with a route's session metadata (for the start-up validator and reloads).</summary>
    public static List<string> Validate(IReadOnlyDictionary<string, string>? metadata)
    {
        var errors = new List<string>();
        ParseSize(metadata, MaxFrameSizeMetadata, errors);
        ParseSize(metadata, MaxMessageSizeMetadata, errors);
        ParseDuration(metadata, ProbeAfterMetadata, allowOff: false, errors);
        ParseDuration(metadata, PongTimeoutMetadata, allowOff: false, errors);
        ParseDuration(metadata, ProxyConfigRules.IdleTimeoutMetadata, allowOff: true, errors);
        RouteAdmissionPolicy.ParseFlag(metadata, AdaptiveProbeMetadata, errors);
        if (metadata is not null && metadata.TryGetValue(HeartbeatMetadata, out var text)
            && !string.Equals(text, ProxyConfigRules.Off, StringComparison.OrdinalIgnoreCase)
            && !string.Equals(text, "on", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"metadata '{HeartbeatMetadata}' = '{text}' is neither 'on' nor 'off'.");
        }

        return errors;
    }

    private long Ticks(TimeSpan value) => (long)(value.TotalSeconds * _frequency);

    private static bool IsOff(IReadOnlyDictionary<string, string>? metadata, string key)
        => metadata is not null && metadata.TryGetValue(key, out var text) && string.Equals(text, ProxyConfigRules.Off, StringComparison.OrdinalIgnoreCase);

    private static long? ParseSize(IReadOnlyDictionary<string, string>? metadata, string key, List<string> errors)
    {
        if (metadata is null || !metadata.TryGetValue(key, out var text))
        {
            return null;
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 126)
        {
            return value;
        }

        errors.Add($"metadata '{key}' = '{text}' is not a size in bytes of at least 126.");
        return null;
    }

    /// <summary>A positive time span; with <paramref name="allowOff"/>, "off" is <see cref="TimeSpan.Zero"/>.</summary>
    private static TimeSpan? ParseDuration(IReadOnlyDictionary<string, string>? metadata, string key, bool allowOff, List<string> errors)
    {
        if (metadata is null || !metadata.TryGetValue(key, out var text))
        {
            return null;
        }

        if (allowOff && string.Equals(text, ProxyConfigRules.Off, StringComparison.OrdinalIgnoreCase))
        {
            return TimeSpan.Zero;
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value >= TimeSpan.FromMilliseconds(100))
        {
            return value;
        }

        errors.Add($"metadata '{key}' = '{text}' is not a time span of at least 00:00:00.1 (hh:mm:ss){(allowOff ? " or 'off'" : "")}.");
        return null;
    }


    private sealed record Entry(ClusterConfig? Cluster, SessionRoutePolicy Policy);
}
