using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Gateway.Drain;

/// <summary>
/// Graceful drain on SIGTERM (<c>Gateway:Drain</c>). Readiness fails at once; after <see cref="Delay"/> the sessions
/// are closed in batches spread across <see cref="Window"/>, so their clients reconnect to other pods at a
/// steady rate instead of all at once. The host's shutdown timeout is set from these (see
/// <see cref="ShutdownBudget"/>); a Kubernetes <c>terminationGracePeriodSeconds</c> must be at least that.
/// </summary>
public sealed class DrainOptions
{
    public const string SectionName = "Gateway:Drain";

    /// <summary>
    /// Time between readiness failing and the first close: long enough for the load balancer to stop sending new
    /// connections to this pod (its health-check interval times its unhealthy threshold, or the endpoint
    /// propagation delay). Upgrades that still arrive meanwhile get 503 (1013 on browser-facing routes).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The closes are spread evenly, with jitter, across this window. A longer window means a gentler reconnect
    /// rate for the other pods: 50,000 sessions over 30 s is about 1,700 new sessions per second elsewhere.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A destination drain's window (<c>Drain/DestinationDrain</c>): when a destination leaves a cluster's
    /// configuration, its sessions are closed (1012) spread across this window. Default 20 s: within Kubernetes' 30 s
    /// grace period of the backend pod, with room for the close handshakes. A cluster's <c>Gateway.DrainWindow</c>
    /// metadata overrides it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan DestinationWindow { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How often a batch of closes is sent; each batch holds the sessions whose turn came since the last.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:10")]
    public TimeSpan BatchInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The longest a shutdown can take: delay, window, the close handshakes of the last batch
    /// (<paramref name="closeTimeout"/>, <c>Gateway:Heartbeat:CloseTimeout</c>), and a margin for the server to stop.
    /// </summary>
    public TimeSpan ShutdownBudget(TimeSpan closeTimeout) => Delay + Window + closeTimeout + ShutdownMargin;

    /// <summary>What the host needs after the drain to stop the server and flush logs.</summary>
    public static readonly TimeSpan ShutdownMargin = TimeSpan.FromSeconds(10);
}

[OptionsValidator]
internal sealed partial class DrainOptionsValidator : IValidateOptions<DrainOptions>;
