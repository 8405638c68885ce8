using System.Diagnostics.Metrics;

namespace Gateway.Telemetry;

/// <summary>What the drain can report on a scrape.</summary>
internal interface IDrainGauges
{
    bool Draining { get; }

    /// <summary>Seconds since the drain began (0 before).</summary>
    double ElapsedSeconds { get; }

    /// <summary>Sessions still open while draining (0 before).</summary>
    int Remaining { get; }
}

/// <summary>
/// Instruments of the graceful drain (meter <c>Gateway.Drain</c>): whether it runs, how long it has run, sessions
/// left, and sessions closed by outcome (<c>closed</c>: the close handshake ran; <c>aborted</c>: it did not finish
/// before the window's end).
/// </summary>
internal sealed class DrainMetrics
{
    public const string MeterName = "Gateway.Drain";

    private readonly Counter<long> _closed;
    private IDrainGauges? _gauges;

    public DrainMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _closed = meter.CreateCounter<long>("gateway.drain.sessions.closed", "{session}", "Sessions the drain ended, by outcome: closed (close sent, handshake under way or done) or aborted (still open at the window's end).");
        meter.CreateObservableGauge("gateway.drain.active", () => _gauges?.Draining == true ? 1 : 0, "{drain}", "1 while the gateway drains (from SIGTERM until it exits), else 0.");
        meter.CreateObservableGauge("gateway.drain.duration", () => _gauges?.ElapsedSeconds ?? 0, "s", "Time since the drain began; 0 when not draining.");
        meter.CreateObservableGauge("gateway.drain.sessions.remaining", () => _gauges?.Remaining ?? 0, "{session}", "Sessions still open during the drain; 0 when not draining.");
    }

    public void Observe(IDrainGauges gauges) => _gauges = gauges;

    /// <summary>Both outcomes from the drain's start, at 0: an alert on aborted sessions then sees the series rise.</summary>
    public void Begin()
    {
        _closed.Add(0, new KeyValuePair<string, object?>("outcome", "closed"));
        _closed.Add(0, new KeyValuePair<string, object?>("outcome", "aborted"));
    }

    public void Closed(string outcome, int count)
    {
        if (count > 0)
        {
            _closed.Add(count, new KeyValuePair<string, object?>("outcome", outcome));
        }
    }
}
