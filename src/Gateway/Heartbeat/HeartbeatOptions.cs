using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Gateway.Heartbeat;

/// <summary>
/// The heartbeat (<c>Gateway:Heartbeat</c>): one ticker for all sessions that pings quiet clients, evicts the
/// ones that stop answering, closes idle ones, and sheds the coldest under pressure. The timings can be set per
/// route with metadata (<c>Gateway.ProbeAfter</c>, <c>Gateway.PongTimeout</c>, <c>Gateway.IdleTimeout</c>,
/// <c>Gateway.AdaptiveProbe</c>, <c>Gateway.Heartbeat</c> = off). Read at start; a change needs a restart.
/// </summary>
public sealed class HeartbeatOptions
{
    public const string SectionName = "Gateway:Heartbeat";

    /// <summary>
    /// Off: no gateway pings or evictions; YARP's activity timeout enforces the idle timeout instead. (The ticker
    /// still runs, to abort closes the gateway started that do not finish in time.)
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often the ticker runs. Deadlines are met within one tick.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:00:10")]
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Silence from a client after which the gateway pings it (tier 1). Keep it below the idle timeout of every
    /// load balancer in front (AWS ALB 60 s, Azure LB 4 min, AWS NLB 350 s) so quiet sessions stay open there.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan ProbeAfter { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>
    /// Each session's probe interval is shortened by up to this fraction (fixed per session), so sessions that
    /// connected together are not pinged in the same tick forever. 0 turns it off.
    /// </summary>
    [Range(0.0, 0.5)]
    public double ProbeJitter { get; set; } = 0.2;

    /// <summary>After a ping, any frame from the client must arrive within this, or the session is evicted (tier 2).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan PongTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a close the gateway started may take (the peers' close replies) before the connection is aborted.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    [Required]
    [ValidateObjectMembers]
    public PressureOptions Pressure { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public AdaptiveProbeOptions Adaptive { get; set; } = new();
}

/// <summary>Tier 4: above the admission high watermark (<c>Gateway:Admission:Watermarks:High</c>).</summary>
public sealed class PressureOptions
{
    /// <summary>Shed the coldest sessions (longest without an application message) down to the high watermark.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Idle timeouts are multiplied by this while under pressure.</summary>
    [Range(0.01, 1.0)]
    public double IdleFactor { get; set; } = 0.5;

    /// <summary>At most this many sessions are shed per tick, so a spike drains instead of dropping at once.</summary>
    [Range(1, 100_000)]
    public int MaxEvictionsPerTick { get; set; } = 100;

    /// <summary>A session that carried an application message this recently is never shed (hot sessions are not the price of cold ones).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan MinIdle { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Adaptive probing, per route with metadata <c>Gateway.AdaptiveProbe</c> = true: the probe interval follows a
/// few measured ping round trips, clamped to [<see cref="MinProbeAfter"/>, <c>ProbeAfter</c>].
/// </summary>
public sealed class AdaptiveProbeOptions
{
    [Range(2, 1000)]
    public int RoundTripMultiplier { get; set; } = 8;

    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan MinProbeAfter { get; set; } = TimeSpan.FromSeconds(5);
}

[OptionsValidator]
internal sealed partial class HeartbeatOptionsValidator : IValidateOptions<HeartbeatOptions>;

/// <summary>What the attributes cannot say: a tick must be finer than the probe interval it enforces.</summary>
internal sealed class HeartbeatOptionsRules : IValidateOptions<HeartbeatOptions>
{
    public ValidateOptionsResult Validate(string? name, HeartbeatOptions options)
        => options.Enabled && options.TickInterval >= options.ProbeAfter
            ? ValidateOptionsResult.Fail($"TickInterval ({options.TickInterval}) must be shorter than ProbeAfter ({options.ProbeAfter}).")
            : ValidateOptionsResult.Success;
}
