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
/// left, and sessions by outcome (<c>going_away</c>: told to go away, as the batches go out; <c>aborted</c>: still
/// open at the drain's end, most of them told before).
/// </summary>
internal sealed class DrainMetrics
{
    public const string MeterName = "Gateway.Drain";

    /// <summary>Outcome: the session was told to go away (counted when told).</summary>
    public const string GoingAway = "going_away";

    /// <summary>Outcome: the session was still open at the drain's end and was aborted (told or not).</summary>
    public const string Aborted = "aborted";

    private readonly Counter<long> _closed;
    private IDrainGauges? _gauges;

    public DrainMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _closed = meter.CreateCounter<long>("gateway.drain.sessions.closed", "{session}", "Sessions the drain ended, by outcome: going_away (told to go away) or aborted (still open at the drain's end).");
        meter.CreateObservableGauge("gateway.drain.active", () => _gauges?.Draining == true ? 1 : 0, "{drain}", "1 while the gateway drains (from SIGTERM until it exits), else 0.");
        meter.CreateObservableGauge("gateway.drain.duration", () => _gauges?.ElapsedSeconds ?? 0, "s", "Time since the drain began; 0 when not draining.");
        meter.CreateObservableGauge("gateway.drain.sessions.remaining", () => _gauges?.Remaining ?? 0, "{session}", "Sessions still open during the drain; 0 when not draining.");
    }

    public void Observe(IDrainGauges gauges) => _gauges = gauges;

    /// <summary>Both outcomes from the drain's start, at 0: an alert on aborted sessions then sees the series rise.</summary>
    public void Begin()
    {
        _closed.Add(0, new KeyValuePair<string, object?>("outcome", GoingAway));
        _closed.Add(0, new KeyValuePair<string, object?>("outcome", Aborted));
    }

    public void Closed(string outcome, int count)
    {
        if (count > 0)
        {
            _closed.Add(count, new KeyValuePair<string, object?>("outcome", outcome));
        }
    }
}
