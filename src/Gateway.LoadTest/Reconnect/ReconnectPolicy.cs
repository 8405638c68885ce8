using System.Globalization;
using System.Text.RegularExpressions;

namespace Gateway.LoadTest.Reconnect;

/// <summary>
/// When a well-behaved client tries again after its session ended or its upgrade failed: exponential backoff with
/// full jitter (a delay drawn uniformly from zero to <c>min(cap, base × 2^failures)</c>, so clients that lost their
/// sessions together do not come back together), except when the server said when: a <c>Retry-After</c> on a 429 or
/// 503, or the hint in a 1013 close's reason (<c>retry after N s</c>, what a browser-facing route sends). A hint is
/// honoured in full, whatever the cap, plus up to one base delay of jitter.
/// </summary>
internal sealed partial class ReconnectPolicy
{
    private readonly TimeSpan _base;
    private readonly TimeSpan _cap;
    private readonly Random _random;

    public ReconnectPolicy(TimeSpan baseDelay, TimeSpan cap, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(baseDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(cap, baseDelay);
        _base = baseDelay;
        _cap = cap;
        _random = random;
    }

    /// <param name="failures">Attempts that failed since the last session that opened (0 for the first try after a session ended).</param>
    /// <param name="hint">The server's own delay, if it gave one.</param>
    public TimeSpan Delay(int failures, TimeSpan? hint)
    {
        lock (_random)
        {
            if (hint is { } serverSaid && serverSaid > TimeSpan.Zero)
            {
                return serverSaid + (_base * _random.NextDouble());
            }

            // base × 2^failures, without overflow for a long run of failures.
            var ceiling = failures >= 30 ? _cap : TimeSpan.FromTicks(Math.Min(_cap.Ticks, _base.Ticks * (1L << failures)));
            return ceiling * _random.NextDouble();
        }
    }

    /// <summary>The delay a 1013 close's reason asks for (<c>retry after N s</c>), or null.</summary>
    public static TimeSpan? HintOf(int? closeStatus, string? reason)
    {
        if (closeStatus != 1013 || reason is null || RetryAfterReason().Match(reason) is not { Success: true } match)
        {
            return null;
        }

        return TimeSpan.FromSeconds(int.Parse(match.Groups["seconds"].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"retry after (?<seconds>\d{1,6}) s", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex RetryAfterReason();
}
