using System.Diagnostics.Metrics;
using Gateway.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Gateway.Benchmarks;

/// <summary>Attaches a <see cref="MetricsPipeline"/> to the gateway's meters; disposing it detaches.</summary>
internal static class MetricsPipelines
{
    public static IDisposable? Attach(MetricsPipeline pipeline, IMeterFactory meters) => pipeline switch
    {
        MetricsPipeline.PrometheusNet => new GatewayTelemetry(meters),
        MetricsPipeline.OpenTelemetrySdk => Sdk.CreateMeterProviderBuilder()
            .AddMeter(GatewayTelemetry.Meters)
            .AddReader(new BaseExportingMetricReader(new DiscardingExporter()) { TemporalityPreference = MetricReaderTemporalityPreference.Cumulative })
            .Build(),
        _ => null,
    };

    /// <summary>The OpenTelemetry SDK's aggregation alone: a scrape's text writing is not on the relay's path.</summary>
    private sealed class DiscardingExporter : BaseExporter<Metric>
    {
        public override ExportResult Export(in Batch<Metric> batch) => ExportResult.Success;
    }
}
