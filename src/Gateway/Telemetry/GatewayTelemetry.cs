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
            .AddView(instrument => instrument.Meter.Scope is null || ReferenceEquals(instrument.Meter.Scope, meterFactory) ? null : MetricStreamConfiguration.Drop)
            .AddReader(exporter.CreateReader())
            .Build();
    }

    public PrometheusExporter Exporter { get; }

    public void Dispose() => _meterProvider.Dispose();
}
