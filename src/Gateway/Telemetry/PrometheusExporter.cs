using System.Text;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Gateway.Telemetry;

/// <summary>
/// A pull exporter for the OpenTelemetry SDK that renders Prometheus text. Written here because the
/// OpenTelemetry Prometheus exporter packages are not available to this build; it covers what the gateway
/// exports (sums, gauges, explicit-bucket histograms, cumulative temporality) and nothing more.
/// </summary>
/// <remarks>
/// It is collected only on demand, by the scrape, which is a pull in all but name. It does not declare
/// <see cref="ExportModes.Pull"/>: the SDK lets a pull-only reader collect only inside a scope that is internal
/// to the SDK and opened for its own Prometheus exporter, so such a reader would always export nothing.
/// </remarks>
internal sealed class PrometheusExporter : BaseExporter<Metric>
{
    private readonly object _scrapeLock = new();
    private readonly StringBuilder _text = new(16 * 1024);
    private BaseExportingMetricReader? _reader;

    /// <summary>The reader to add to the meter provider; scrapes ask it to collect.</summary>
    public MetricReader CreateReader()
    {
        _reader = new BaseExportingMetricReader(this) { TemporalityPreference = MetricReaderTemporalityPreference.Cumulative };
        return _reader;
    }

    /// <summary>Collects every instrument now and returns the exposition text.</summary>
    public string Scrape(int timeoutMilliseconds = 5000)
    {
        var reader = _reader ?? throw new InvalidOperationException("The exporter's reader has not been added to a meter provider.");
        lock (_scrapeLock)
        {
            _text.Clear();
            // Collect runs the SDK's aggregation and calls Export on this thread before it returns.
            reader.Collect(timeoutMilliseconds);
            return _text.ToString();
        }
    }

    public override ExportResult Export(in Batch<Metric> batch)
    {
        PrometheusTextWriter.Write(batch, _text);
        return ExportResult.Success;
    }
}
