using System.Diagnostics.Metrics;

namespace Gateway.Telemetry;

/// <summary>What the connection gate reports on a scrape.</summary>
internal interface IConnectionGauges
{
    /// <summary>Client connections open on the public listeners.</summary>
    int Open { get; }

    /// <summary>The cap on them.</summary>
    int Limit { get; }
}

/// <summary>
/// Instruments of the connection gate (meter <c>Gateway.Connections</c>): client connections open and their cap, and
/// connections closed before the HTTP layer saw them, by reason (<c>limit</c>: over the cap; <c>first_byte_timeout</c>:
/// silent for the first-byte deadline).
/// </summary>
internal sealed class ConnectionMetrics
{
    public const string MeterName = "Gateway.Connections";

    public const string AtLimit = "limit";

    public const string FirstByteTimeout = "first_byte_timeout";

    private readonly Counter<long> _refused;
    private IConnectionGauges? _gauges;

    public ConnectionMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _refused = meter.CreateCounter<long>("gateway.connections.refused", "{connection}", "Client connections closed before any HTTP, by reason: limit (over the cap) or first_byte_timeout (silent).");
        meter.CreateObservableGauge("gateway.connections.open", () => _gauges?.Open ?? 0, "{connection}", "Client connections open on the public listeners.");
        meter.CreateObservableGauge("gateway.connections.limit", () => _gauges?.Limit is { } limit and < int.MaxValue ? limit : 0, "{connection}", "The cap on open client connections (0: none).");
    }

    public void Observe(IConnectionGauges gauges) => _gauges = gauges;

    public void Refused(string reason) => _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
