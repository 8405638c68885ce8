using System.Diagnostics.Metrics;
using System.Text;
using Prometheus;

namespace Gateway.Telemetry;

/// <summary>
/// The gateway's metrics as Prometheus sees them: its own meters plus the runtime's and ASP.NET Core's, bridged
/// into one prometheus-net registry (<see cref="PrometheusBridge"/>) that prometheus-net.AspNetCore serves at
/// /metrics on the management listener. Built once at start so no early measurement is lost.
/// </summary>
/// <remarks>
/// Meters are matched by name process-wide, so a second host in the process (the Development demo backend,
/// test backends) would otherwise report into the same kestrel_* and gateway_* series. Instruments whose meter
/// was created by another host's <see cref="IMeterFactory"/> are left out; process-wide meters (System.Runtime)
/// have no scope and are kept. The same rule selects what OTLP metrics export (<see cref="GatewayOpenTelemetry"/>).
/// </remarks>
internal sealed class GatewayTelemetry : IDisposable
{
    /// <summary>Meters exported, by name; a trailing <c>*</c> matches a prefix.</summary>
    public static readonly string[] Meters =
    [
        "Gateway.*",
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Runtime",
        HttpClientSource,
    ];

    /// <summary>HttpClient's meter, and since .NET 9 its ActivitySource: both are named so.</summary>
    public const string HttpClientSource = "System.Net.Http";

    /// <summary>
    /// Kestrel's connection-duration histogram is not exported: while it is collected, Kestrel keeps a list of metric
    /// tags with every open connection for its whole life (~150 bytes each, a measurable share of an idle session on
    /// the lean path), and for connections that carry one WebSocket session for hours it says less than
    /// <c>gateway_session_duration_seconds</c>, which is by route and end reason.
    /// </summary>
    internal const string DroppedKestrelInstrument = "kestrel.connection.duration";

    private readonly PrometheusBridge _bridge;

    public GatewayTelemetry(IMeterFactory meterFactory)
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        _bridge = new PrometheusBridge(Registry, instrument => Exported(instrument, meterFactory));
    }

    /// <summary>The registry /metrics serves.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>The exposition text a scrape gets now (tests and benchmarks; /metrics is served by prometheus-net's middleware).</summary>
    public async Task<string> ScrapeAsync()
    {
        using var text = new MemoryStream();
        await Registry.CollectAndExportAsTextAsync(text);
        return Encoding.UTF8.GetString(text.GetBuffer(), 0, (int)text.Length);
    }

    internal static bool Exported(Instrument instrument, IMeterFactory meterFactory)
        => ExportedMeter(instrument.Meter.Name)
            && (instrument.Meter.Scope is null || ReferenceEquals(instrument.Meter.Scope, meterFactory))
            && !(instrument.Meter.Name == "Microsoft.AspNetCore.Server.Kestrel" && instrument.Name == DroppedKestrelInstrument);

    private static bool ExportedMeter(string name)
    {
        foreach (var pattern in Meters)
        {
            if (pattern.EndsWith('*') ? name.StartsWith(pattern[..^1], StringComparison.Ordinal) : name == pattern)
            {
                return true;
            }
        }

        return false;
    }

    public void Dispose() => _bridge.Dispose();
}
