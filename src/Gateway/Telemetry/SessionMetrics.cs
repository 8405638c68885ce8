using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Gateway.Telemetry;

/// <summary>
/// Instruments of the session relay. Names follow OpenTelemetry conventions; the Prometheus exporter turns
/// <c>gateway.sessions.closed</c> into <c>gateway_sessions_closed_total</c>, <c>gateway.session.duration</c>
/// (unit s) into <c>gateway_session_duration_seconds</c>, and so on.
/// </summary>
internal sealed class SessionMetrics
{
    public const string MeterName = "Gateway.Sessions";

    public const string ClientToBackend = "client_to_backend";
    public const string BackendToClient = "backend_to_client";

    // Sessions last from seconds to days: buckets from 1 s to 1 week.
    private static readonly double[] DurationBuckets = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800];

    private readonly UpDownCounter<long> _active;
    private readonly Counter<long> _opened;
    private readonly Counter<long> _closed;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _messages;
    private readonly UpDownCounter<long> _perDestination;
    private readonly UpDownCounter<long> _degraded;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _pongs;
    private readonly Histogram<double> _roundTrip;

    private static readonly double[] RoundTripBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    public SessionMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _active = meter.CreateUpDownCounter<long>("gateway.sessions.active", "{session}", "WebSocket sessions currently relayed.");
        _opened = meter.CreateCounter<long>("gateway.sessions.opened", "{session}", "WebSocket sessions whose upgrade succeeded.");
        _closed = meter.CreateCounter<long>("gateway.sessions.closed", "{session}", "WebSocket sessions that ended, by reason.");
        _duration = meter.CreateHistogram(
            "gateway.session.duration",
            "s",
            "Lifetime of ended WebSocket sessions.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _bytes = meter.CreateCounter<long>("gateway.relayed", "By", "Bytes relayed on WebSocket sessions, by direction.");
        _messages = meter.CreateCounter<long>("gateway.relayed.messages", "{message}", "WebSocket messages relayed, by direction.");
        _perDestination = meter.CreateUpDownCounter<long>("gateway.destination.sessions", "{session}", "WebSocket sessions currently relayed, by backend destination.");
        _rejected = meter.CreateCounter<long>("gateway.frames.rejected", "{frame}", "Client frames refused before reaching a backend, by reason (the client is closed with 1002 or 1009).");
        _pongs = meter.CreateCounter<long>("gateway.heartbeat.pongs", "{pong}", "Pongs answering the gateway's pings, consumed by the gateway (never forwarded to a backend).");
        _roundTrip = meter.CreateHistogram(
            "gateway.heartbeat.rtt",
            "s",
            "Round trip of the gateway's pings to clients (ping sent to pong read).",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RoundTripBuckets });
        _degraded = meter.CreateUpDownCounter<long>("gateway.sessions.degraded", "{session}", "Sessions served by their route's fallback cluster because its own cluster had no destination available.");
    }

    /// <param name="path">Where the session's relay runs: <c>lean</c> or <c>yarp</c> (docs/architecture.md).</param>
    public void SessionOpened(string route, string cluster, string protocol, string path, string? destination = null, bool degraded = false)
    {
        var tags = new TagList { { "route", route }, { "cluster", cluster } };
        if (degraded)
        {
            _degraded.Add(1, tags);
        }

        tags.Add("path", path);
        _active.Add(1, tags);
        _perDestination.Add(1, new TagList { { "cluster", cluster }, { "destination", destination ?? "" } });
        tags.Add("protocol", protocol);
        _opened.Add(1, tags);
    }

    public void SessionClosed(string route, string cluster, string reason, string path, double durationSeconds, string? destination = null, bool degraded = false)
    {
        var tags = new TagList { { "route", route }, { "cluster", cluster } };
        if (degraded)
        {
            _degraded.Add(-1, tags);
        }

        tags.Add("path", path);
        var withReason = tags;
        withReason.Add("reason", reason);
        _closed.Add(1, withReason);
        _duration.Record(durationSeconds, withReason);
        _perDestination.Add(-1, new TagList { { "cluster", cluster }, { "destination", destination ?? "" } });

        // Last, so a scrape that sees the session gone from the gauge also sees it counted as closed.
        _active.Add(-1, tags);
    }

    /// <summary>Called on every relayed read or write: allocation-free, lock-free.</summary>
    public void Relayed(string route, string direction, int bytes, long messages)
    {
        if (_bytes.Enabled)
        {
            _bytes.Add(bytes, new TagList { { "route", route }, { "direction", direction } });
        }

        if (messages != 0 && _messages.Enabled)
        {
            _messages.Add(messages, new TagList { { "route", route }, { "direction", direction } });
        }
    }

    /// <summary>A client frame refused before it reached the backend (the client got 1002 or 1009).</summary>
    public void FrameRejected(string route, string reason)
    {
        if (_rejected.Enabled)
        {
            _rejected.Add(1, new TagList { { "route", route }, { "reason", reason } });
        }
    }

    /// <summary>A client answered a gateway ping; <paramref name="roundTripSeconds"/> from ping to pong.</summary>
    public void Pong(string route, double roundTripSeconds)
    {
        var tags = new TagList { { "route", route } };
        _pongs.Add(1, tags);
        _roundTrip.Record(roundTripSeconds, tags);
    }
}
