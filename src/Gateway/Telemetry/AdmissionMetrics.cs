using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Gateway.Telemetry;

/// <summary>What the admission gauges read at each collection.</summary>
internal interface IAdmissionGauges
{
    /// <summary>0 normal, 1 elevated (refill shrinking), 2 high (priority routes only), 3 critical (nothing admitted).</summary>
    int Level { get; }

    /// <summary>Admitted sessions: open ones plus those still in their upgrade.</summary>
    int Admitted { get; }

    double TokensAvailable { get; }

    double RefillPerSecond { get; }

    int LowWatermark { get; }

    int HighWatermark { get; }

    int CriticalWatermark { get; }
}

/// <summary>
/// Instruments of admission control (meter <c>Gateway.Admission</c>): decisions as counters, state as gauges
/// read from <see cref="IAdmissionGauges"/> on each scrape (nothing is recorded per request for them).
/// </summary>
internal sealed class AdmissionMetrics
{
    public const string MeterName = "Gateway.Admission";

    private readonly Meter _meter;
    private readonly Counter<long> _admitted;
    private readonly Counter<long> _rejected;
    private IAdmissionGauges? _gauges;

    public AdmissionMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _admitted = _meter.CreateCounter<long>("gateway.admission.admitted", "{session}", "WebSocket upgrades admitted, by route.");
        _rejected = _meter.CreateCounter<long>("gateway.admission.rejected", "{session}", "WebSocket upgrades rejected before reaching a backend, by reason and route.");
        _meter.CreateObservableGauge("gateway.admission.level", () => _gauges?.Level ?? 0, "{level}", "Admission level: 0 normal, 1 elevated (refill shrinking), 2 high (priority routes only), 3 critical (nothing admitted).");
        _meter.CreateObservableGauge("gateway.admission.sessions", () => _gauges?.Admitted ?? 0, "{session}", "Sessions counted against the watermarks: open ones plus upgrades in progress.");
        _meter.CreateObservableGauge("gateway.admission.tokens", () => _gauges?.TokensAvailable ?? 0, "{token}", "Tokens available in the global bucket.");
        _meter.CreateObservableGauge("gateway.admission.refill_rate", () => _gauges?.RefillPerSecond ?? 0, "{token}/s", "Current refill of the global bucket (shrinks between the low and high watermarks).");
        _meter.CreateObservableGauge("gateway.admission.watermark", ObserveWatermarks, "{session}", "Configured watermarks, by mark.");
    }

    public void Observe(IAdmissionGauges gauges) => _gauges = gauges;

    public void Admitted(string route)
    {
        if (_admitted.Enabled)
        {
            _admitted.Add(1, new TagList { { "route", route } });
        }
    }

    /// <param name="reason">rate_global, rate_client, client_sessions, watermark_high, watermark_critical or origin.</param>
    public void Rejected(string route, string reason)
    {
        if (_rejected.Enabled)
        {
            _rejected.Add(1, new TagList { { "route", route }, { "reason", reason } });
        }
    }

    private IEnumerable<Measurement<int>> ObserveWatermarks()
    {
        if (_gauges is not { } gauges)
        {
            return [];
        }

        return
        [
            new Measurement<int>(gauges.LowWatermark, new KeyValuePair<string, object?>("mark", "low")),
            new Measurement<int>(gauges.HighWatermark, new KeyValuePair<string, object?>("mark", "high")),
            new Measurement<int>(gauges.CriticalWatermark, new KeyValuePair<string, object?>("mark", "critical")),
        ];
    }
}
