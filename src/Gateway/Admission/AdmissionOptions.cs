using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;

namespace Gateway.Admission;

/// <summary>
/// Admission control of new WebSocket sessions (<c>Gateway:Admission</c>). Read at start and on every
/// configuration reload; a reload that fails validation is logged and the running limits stay.
/// </summary>
public sealed class AdmissionOptions
{
    public const string SectionName = "Gateway:Admission";

    /// <summary>Off: every WebSocket upgrade goes straight to the proxy (origin allow-lists still apply).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The token bucket all new sessions of the pod draw from.</summary>
    [Required]
    [ValidateObjectMembers]
    public GlobalRateOptions Rate { get; set; } = new();

    /// <summary>Limits per client IP address (see <see cref="TrustedProxies"/> for how the address is found).</summary>
    [Required]
    [ValidateObjectMembers]
    public ClientLimitOptions PerClient { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public WatermarkOptions Watermarks { get; set; } = new();

    /// <summary>
    /// Networks (CIDR, or single addresses) of the load balancers and proxies in front of the gateway. Only a
    /// peer inside them is believed about the client address in <see cref="ForwardedHeader"/>; from anyone else
    /// the header is ignored, so a client cannot pick its own identity. Behind an L7 load balancer, set this:
    /// otherwise every client shares the balancer's address and its per-client limits.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>Which header trusted proxies put the client address in. Only one is read: a proxy that appends to
    /// one header passes the other through unchecked from the client.</summary>
    public ForwardedHeaderKind ForwardedHeader { get; set; } = ForwardedHeaderKind.XForwardedFor;

    /// <summary><c>Retry-After</c> for rejections that have no token bucket to ask (watermarks, per-client session cap).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Up to this much is added at random to every <c>Retry-After</c>, so clients rejected together do not come
    /// back together.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan RetryAfterJitter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a browser-facing rejection (accept, then close 1013) waits for the client's close reply.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan RejectionCloseTimeout { get; set; } = TimeSpan.FromSeconds(2);
}

public sealed class GlobalRateOptions
{
    /// <summary>New sessions per second the pod admits in the long run.</summary>
    [Range(0.01, 1_000_000)]
    public double PermitsPerSecond { get; set; } = 1000;

    /// <summary>Sessions admitted at once from a full bucket.</summary>
    [Range(1, 1_000_000)]
    public int Burst { get; set; } = 2000;

    /// <summary>
    /// Refill at the high watermark: between the low and high watermarks the refill shrinks linearly from
    /// <see cref="PermitsPerSecond"/> to this.
    /// </summary>
    [Range(0.01, 1_000_000)]
    public double MinimumPermitsPerSecond { get; set; } = 100;
}

public sealed class ClientLimitOptions
{
    /// <summary>New sessions per second per client address; 0 turns the per-client bucket off.</summary>
    [Range(0, 1_000_000)]
    public double PermitsPerSecond { get; set; } = 100;

    [Range(1, 1_000_000)]
    public int Burst { get; set; } = 200;

    /// <summary>Open sessions per client address; 0 is unlimited.</summary>
    [Range(0, 10_000_000)]
    public int MaxSessions { get; set; } = 10_000;
}

/// <summary>
/// Marks on the number of admitted sessions (open ones plus those still in their upgrade). Each mark is either
/// set here or derived from the container's memory limit: <c>fraction × memory limit ÷ BytesPerSession</c>.
/// </summary>
public sealed class WatermarkOptions
{
    /// <summary>Above it, the bucket's refill shrinks toward <see cref="GlobalRateOptions.MinimumPermitsPerSecond"/>.</summary>
    [Range(1, int.MaxValue)]
    public int? Low { get; set; }

    /// <summary>At and above it only routes with <c>Gateway.Priority</c> metadata admit.</summary>
    [Range(1, int.MaxValue)]
    public int? High { get; set; }

    /// <summary>At and above it nothing new is admitted.</summary>
    [Range(1, int.MaxValue)]
    public int? Critical { get; set; }

    /// <summary>
    /// What one idle session costs the process (measured: ~19 KB with HTTP/2 backends, ~30 KB with HTTP/1.1;
    /// see docs/benchmarks.md), for marks derived from the memory limit.
    /// </summary>
    [Range(1024, 100 * 1024 * 1024)]
    public int BytesPerSession { get; set; } = 32 * 1024;

    [Range(0.01, 1.0)]
    public double LowFraction { get; set; } = 0.6;

    [Range(0.01, 1.0)]
    public double HighFraction { get; set; } = 0.8;

    [Range(0.01, 1.0)]
    public double CriticalFraction { get; set; } = 0.9;

    /// <summary>The three marks, explicit ones as given and the rest derived from <paramref name="memoryLimitBytes"/>.</summary>
    internal WatermarkLevels Resolve(long memoryLimitBytes)
    {
        var sessions = (double)memoryLimitBytes / BytesPerSession;
        return new WatermarkLevels(
            Low ?? Derive(sessions, LowFraction),
            High ?? Derive(sessions, HighFraction),
            Critical ?? Derive(sessions, CriticalFraction));

        static int Derive(double sessions, double fraction) => (int)Math.Clamp(sessions * fraction, 1, int.MaxValue);
    }
}

public enum ForwardedHeaderKind
{
    /// <summary><c>X-Forwarded-For: client, proxy1, proxy2</c> (AWS, GCP, Azure, nginx, ingress controllers).</summary>
    XForwardedFor,

    /// <summary>RFC 7239 <c>Forwarded: for=client, for=proxy1</c>.</summary>
    Forwarded,
}

/// <summary>Resolved watermarks; <c>Low ≤ High ≤ Critical</c> once validated.</summary>
internal readonly record struct WatermarkLevels(int Low, int High, int Critical);

[OptionsValidator]
internal sealed partial class AdmissionOptionsValidator : IValidateOptions<AdmissionOptions>;

/// <summary>Cross-field checks the attributes cannot express.</summary>
internal sealed class AdmissionOptionsRules : IValidateOptions<AdmissionOptions>
{
    private readonly Func<long> _memoryLimit;

    public AdmissionOptionsRules()
        : this(MemoryLimit.Bytes)
    {
    }

    internal AdmissionOptionsRules(Func<long> memoryLimit)
    {
        _memoryLimit = memoryLimit;
    }

    public ValidateOptionsResult Validate(string? name, AdmissionOptions options)
    {
        var errors = new List<string>();
        if (options.Rate is { } rate && rate.MinimumPermitsPerSecond > rate.PermitsPerSecond)
        {
            errors.Add($"Rate.MinimumPermitsPerSecond ({rate.MinimumPermitsPerSecond}) is above Rate.PermitsPerSecond ({rate.PermitsPerSecond}); the refill only ever shrinks toward it.");
        }

        if (options.Watermarks is { } watermarks)
        {
            var levels = watermarks.Resolve(_memoryLimit());
            if (levels.Low > levels.High || levels.High > levels.Critical)
            {
                errors.Add($"Watermarks must satisfy Low <= High <= Critical (resolved: Low {levels.Low}, High {levels.High}, Critical {levels.Critical}"
                    + $"{(watermarks.Low is null || watermarks.High is null || watermarks.Critical is null ? $", unset ones derived from a memory limit of {_memoryLimit() / (1024 * 1024)} MiB" : "")}).");
            }
        }

        foreach (var entry in options.TrustedProxies ?? [])
        {
            if (!TrustedNetworks.TryParse(entry, out _))
            {
                errors.Add($"TrustedProxies entry '{entry}' is neither an IP address nor a CIDR network (e.g. 10.0.0.0/8, fd00::/8).");
            }
        }

        if (!Enum.IsDefined(options.ForwardedHeader))
        {
            errors.Add($"ForwardedHeader '{options.ForwardedHeader}' is not one of: {string.Join(", ", Enum.GetNames<ForwardedHeaderKind>())}.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>The memory the process may use: the container's limit when there is one (the GC reads cgroups), else the machine's.</summary>
internal static class MemoryLimit
{
    public static long Bytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
}

/// <summary>Parsed <see cref="AdmissionOptions.TrustedProxies"/>.</summary>
internal static class TrustedNetworks
{
    public static bool TryParse(string text, out IPNetwork network)
    {
        text = text.Trim();
        if (IPNetwork.TryParse(text, out network))
        {
            return true;
        }

        if (IPAddress.TryParse(text, out var address))
        {
            network = new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return false;
    }

    public static IPNetwork[] Parse(IEnumerable<string>? entries)
    {
        var networks = new List<IPNetwork>();
        foreach (var entry in entries ?? [])
        {
            if (TryParse(entry, out var network))
            {
                networks.Add(network);
            }
        }

        return [.. networks];
    }
}
