using Gateway.Sessions;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Gateway.Telemetry;

/// <summary>What the heartbeat scheduler can report of its sessions on a scrape.</summary>
internal interface IHeartbeatGauges
{
    /// <summary>Sessions per tier (index = tier: active, probing, idle, closing), counted on demand.</summary>
    void CountByTier(Span<int> counts);
}

/// <summary>
/// Instruments of the heartbeat (meter <c>Gateway.Heartbeat</c>): pings sent, evictions by tier, the ticker's
/// own cost, and sessions per tier. Pongs and round trips are recorded where they are seen, in
/// <see cref="SessionMetrics"/>.
/// </summary>
internal sealed class HeartbeatMetrics
{
    public const string MeterName = "Gateway.Heartbeat";

    private static readonly double[] TickBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

    private readonly Counter<long> _pings;
    private readonly Counter<long> _evicted;
    private readonly Histogram<double> _tick;
    private IHeartbeatGauges? _gauges;

    public HeartbeatMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _pings = meter.CreateCounter<long>("gateway.heartbeat.pings", "{ping}", "Pings the gateway sent to quiet clients (tier 1).");
        _evicted = meter.CreateCounter<long>("gateway.sessions.evicted", "{session}", "Sessions the heartbeat closed, by tier: unresponsive (2), idle (3), pressure (4).");
        _tick = meter.CreateHistogram(
            "gateway.heartbeat.tick.duration",
            "s",
            "Time one heartbeat tick took (all due sessions, and the pressure scan when above the high watermark).",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = TickBuckets });
        meter.CreateObservableGauge("gateway.sessions.tier", ObserveTiers, "{session}", "Sessions per heartbeat tier: active, probing (ping outstanding), idle (answers pings, no messages), closing.");
    }

    public void Observe(IHeartbeatGauges gauges) => _gauges = gauges;

    public void Ping(string route)
    {
        if (_pings.Enabled)
        {
            _pings.Add(1, new TagList { { "route", route } });
        }
    }

    public void Evicted(string route, string tier) => _evicted.Add(1, new TagList { { "route", route }, { "tier", tier } });

    public void Tick(double seconds) => _tick.Record(seconds);

    private IEnumerable<Measurement<int>> ObserveTiers()
    {
        if (_gauges is not { } gauges)
        {
            return [];
        }

        Span<int> counts = stackalloc int[SessionNames.Tiers.Length];
        gauges.CountByTier(counts);
        var measurements = new Measurement<int>[SessionNames.Tiers.Length];
        for (var i = 0; i < SessionNames.Tiers.Length; i++)
        {
            measurements[i] = new Measurement<int>(counts[i], new KeyValuePair<string, object?>("tier", SessionNames.Tiers[i]));
        }

        return measurements;
    }
}
