using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Gateway.Resilience;

/// <summary>
/// Backend protection (<c>Gateway:Resilience</c>): a circuit breaker per destination, the handshake timeout,
/// the early-abort window and connect retries. Every setting under <see cref="Breaker"/> and the two windows can
/// be overridden per cluster under <see cref="Clusters"/>. Read at start; a change needs a restart (breakers
/// keep their state for their lifetime, and a half-changed breaker is worse than a restart).
/// </summary>
public sealed class ResilienceOptions
{
    public const string SectionName = "Gateway:Resilience";

    /// <summary>Off: upgrades go straight to YARP's balancer, with no breaker, no retry and YARP's own 503.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Breaker settings of every cluster without its own.</summary>
    [Required]
    [ValidateObjectMembers]
    public BreakerOptions Breaker { get; set; } = new();

    /// <summary>
    /// How long a backend may take to answer an upgrade (from sending it to the status line). Past it the attempt
    /// is abandoned, answered 504, and counted against the destination's breaker.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A session the backend drops (no close frame) this soon after accepting it counts as a failed attempt:
    /// a backend that accepts and crashes is as broken as one that refuses. Zero turns the check off.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan EarlyAbortWindow { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Destinations tried for one upgrade when connecting fails (refused, unreachable, connect timeout): nothing
    /// has reached a backend then, so another destination of the cluster is tried at once, as nginx's
    /// <c>proxy_next_upstream error</c> does. 1 turns retries off.
    /// </summary>
    [Range(1, 10)]
    public int MaxConnectAttempts { get; set; } = 3;

    /// <summary><c>Retry-After</c> of a fast failure when no open breaker says when it will try again.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Up to this much is added at random to every fast failure's <c>Retry-After</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan RetryAfterJitter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a browser-facing fast failure (accept, then close 1013) waits for the client's close reply.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan RejectionCloseTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Per-cluster overrides, keyed by cluster id; unset fields keep the gateway-wide value.</summary>
    public Dictionary<string, ClusterResilienceOptions> Clusters { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The settings one cluster runs with.</summary>
    internal ClusterResilienceSettings For(string clusterId)
    {
        var overrides = Clusters.GetValueOrDefault(clusterId);
        return new ClusterResilienceSettings(
            overrides?.FailureRatio ?? Breaker.FailureRatio,
            overrides?.MinimumThroughput ?? Breaker.MinimumThroughput,
            overrides?.SamplingDuration ?? Breaker.SamplingDuration,
            overrides?.BreakDuration ?? Breaker.BreakDuration,
            overrides?.HandshakeTimeout ?? HandshakeTimeout,
            overrides?.EarlyAbortWindow ?? EarlyAbortWindow,
            overrides?.MaxFailuresPerClient ?? Breaker.MaxFailuresPerClient);
    }
}

/// <summary>
/// Polly's circuit breaker, applied to session upgrades: it opens when, within <see cref="SamplingDuration"/>,
/// at least <see cref="MinimumThroughput"/> upgrades were attempted and at least <see cref="FailureRatio"/> of
/// them failed; it stays open for <see cref="BreakDuration"/>, then lets one trial session through. Failures a
/// client can provoke count at most <see cref="MaxFailuresPerClient"/> times per client within the window.
/// </summary>
public sealed class BreakerOptions
{
    public const int DefaultMaxFailuresPerClient = 2;
    public const int MinMaxFailuresPerClient = 1;
    public const int MaxMaxFailuresPerClient = 100_000;

    [Range(0.01, 1.0)]
    public double FailureRatio { get; set; } = 0.5;

    [Range(2, 100_000)]
    public int MinimumThroughput { get; set; } = 10;

    [Range(typeof(TimeSpan), "00:00:00.500", "01:00:00")]
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    [Range(typeof(TimeSpan), "00:00:00.500", "01:00:00")]
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How many failures one client can provoke (the backend answered its upgrade 5xx, did not answer in time,
    /// broke the connection or dropped the session early) count against a destination within the sampling window;
    /// the rest of that client's attempts there count for nothing until the window moves on. With the default 2,
    /// FailureRatio 0.5 and MinimumThroughput 10, failing upgrades of at least three clients are needed to open it.
    /// Connect failures always count: a client cannot cause them.
    /// </summary>
    [Range(MinMaxFailuresPerClient, MaxMaxFailuresPerClient)]
    public int MaxFailuresPerClient { get; set; } = DefaultMaxFailuresPerClient;
}

/// <summary>One cluster's overrides of <see cref="ResilienceOptions"/>; null keeps the gateway-wide value.</summary>
public sealed class ClusterResilienceOptions
{
    public double? FailureRatio { get; set; }

    public int? MinimumThroughput { get; set; }

    public TimeSpan? SamplingDuration { get; set; }

    public TimeSpan? BreakDuration { get; set; }

    public TimeSpan? HandshakeTimeout { get; set; }

    public TimeSpan? EarlyAbortWindow { get; set; }

    public int? MaxFailuresPerClient { get; set; }
}

/// <summary>What one cluster's breakers and upgrade attempts run with.</summary>
internal sealed record ClusterResilienceSettings(
    double FailureRatio,
    int MinimumThroughput,
    TimeSpan SamplingDuration,
    TimeSpan BreakDuration,
    TimeSpan HandshakeTimeout,
    TimeSpan EarlyAbortWindow,
    int MaxFailuresPerClient = BreakerOptions.DefaultMaxFailuresPerClient)
{
    /// <summary>
    /// One client's failures alone can reach the failure ratio at the minimum throughput: the cap is too high (or the
    /// breaker too sensitive) to keep one client from opening the breaker.
    /// </summary>
    public bool OneClientCanOpen => MaxFailuresPerClient >= FailureRatio * MinimumThroughput;
}

[OptionsValidator]
internal sealed partial class ResilienceOptionsValidator : IValidateOptions<ResilienceOptions>;

/// <summary>Each cluster's overrides, checked against the same bounds as the gateway-wide values.</summary>
internal sealed class ResilienceOptionsRules : IValidateOptions<ResilienceOptions>
{
    public ValidateOptionsResult Validate(string? name, ResilienceOptions options)
    {
        var errors = new List<string>();
        foreach (var (clusterId, cluster) in options.Clusters)
        {
            var prefix = $"Clusters:{clusterId}:";
            Check(cluster.FailureRatio is null or (>= 0.01 and <= 1.0), prefix + "FailureRatio must be between 0.01 and 1.", errors);
            Check(cluster.MinimumThroughput is null or (>= 2 and <= 100_000), prefix + "MinimumThroughput must be between 2 and 100000.", errors);
            CheckSpan(cluster.SamplingDuration, TimeSpan.FromMilliseconds(500), TimeSpan.FromHours(1), prefix + "SamplingDuration", errors);
            CheckSpan(cluster.BreakDuration, TimeSpan.FromMilliseconds(500), TimeSpan.FromHours(1), prefix + "BreakDuration", errors);
            CheckSpan(cluster.HandshakeTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5), prefix + "HandshakeTimeout", errors);
            CheckSpan(cluster.EarlyAbortWindow, TimeSpan.Zero, TimeSpan.FromMinutes(5), prefix + "EarlyAbortWindow", errors);
            Check(
                cluster.MaxFailuresPerClient is null or (>= BreakerOptions.MinMaxFailuresPerClient and <= BreakerOptions.MaxMaxFailuresPerClient),
                $"{prefix}MaxFailuresPerClient must be between {BreakerOptions.MinMaxFailuresPerClient} and {BreakerOptions.MaxMaxFailuresPerClient}.",
                errors);
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Check(bool ok, string error, List<string> errors)
    {
        if (!ok)
        {
            errors.Add(error);
        }
    }

    private static void CheckSpan(TimeSpan? value, TimeSpan min, TimeSpan max, string name, List<string> errors)
        => Check(value is null || (value >= min && value <= max), $"{name} must be between {min} and {max} (was {value}).", errors);
}
