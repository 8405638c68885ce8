using System.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Gateway.Telemetry;

/// <summary>
/// The gateway's OpenTelemetry meter provider: its own meters plus the runtime's and ASP.NET Core's, read by
/// <see cref="PrometheusExporter"/> on each scrape. Built once at start so no early measurement is lost.
/// </summary>
/// <remarks>
/// Meters are matched by name process-wide, so a second host in the process (the Development demo backend,
/// test backends) would otherwise report into the same kestrel_* and gateway_* series. A view drops every
/// instrument whose meter was created by another host's <see cref="IMeterFactory"/>; process-wide meters
/// (System.Runtime) have no scope and are kept.
/// </remarks>
internal sealed class GatewayTelemetry : IDisposable
{
    /// <summary>Meters exported at /metrics.</summary>
    public static readonly string[] Meters =
    [
        "Gateway.*",
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Runtime",
        "System.Net.Http",
    ];

    private readonly MeterProvider _meterProvider;

    public GatewayTelemetry(PrometheusExporter exporter, IMeterFactory meterFactory)
    {
        Exporter = exporter;
        _meterProvider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(Meters)
            .AddView(instrument => Exported(instrument, meterFactory) ? null : MetricStreamConfiguration.Drop)
            .AddReader(exporter.CreateReader())
            .Build();
    }

    public PrometheusExporter Exporter { get; }

    /// <summary>
    /// Kestrel's connection-duration histogram is not exported: while it is collected, Kestrel keeps a list of metric
    /// tags with every open connection for its whole life (~150 bytes each, a measurable share of an idle session on
    /// the lean path), and for connections that carry one WebSocket session for hours it says less than
    /// <c>gateway_session_duration_seconds</c>, which is by route and end reason.
    /// </summary>
    internal const string DroppedKestrelInstrument = "kestrel.connection.duration";

    private static bool Exported(Instrument instrument, IMeterFactory meterFactory)
        => (instrument.Meter.Scope is null || ReferenceEquals(instrument.Meter.Scope, meterFactory))
            && !(instrument.Meter.Name == "Microsoft.AspNetCore.Server.Kestrel" && instrument.Name == DroppedKestrelInstrument);

    public void Dispose() => _meterProvider.Dispose();
}
