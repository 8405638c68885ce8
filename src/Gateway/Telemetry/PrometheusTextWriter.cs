using System.Globalization;
using System.Text;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Gateway.Telemetry;

/// <summary>
/// Writes one collection of OpenTelemetry metrics in the Prometheus text exposition format 0.0.4. Metrics that
/// map to the same Prometheus name (the same instrument from two meters) are merged into one family with one
/// HELP and TYPE line; a series that repeats an already written label set is dropped rather than duplicated.
/// </summary>
internal static class PrometheusTextWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static void Write(in Batch<Metric> batch, StringBuilder output)
    {
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        var order = new List<Family>();
        foreach (var metric in batch)
        {
            if (TypeOf(metric.MetricType) is not { } type)
            {
                continue;
            }

            var name = PrometheusNames.MetricName(metric.Name, metric.Unit, type);
            if (!families.TryGetValue(name, out var family))
            {
                family = new Family(name, type, string.IsNullOrWhiteSpace(metric.Description) ? metric.Name : metric.Description);
                families.Add(name, family);
                order.Add(family);
            }
            else if (family.Type != type)
            {
                // Same Prometheus name, different kind: exposing both would make the scrape invalid.
                continue;
            }

            family.Metrics.Add(metric);
        }

        var labels = new StringBuilder();
        foreach (var family in order)
        {
            output.Append("# HELP ").Append(family.Name).Append(' ');
            AppendEscaped(output, family.Help, escapeQuotes: false);
            output.Append('\n');
            output.Append("# TYPE ").Append(family.Name).Append(' ').Append(family.Type switch
            {
                PrometheusType.Counter => "counter",
                PrometheusType.Histogram => "histogram",
                _ => "gauge",
            }).Append('\n');

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var metric in family.Metrics)
            {
                foreach (ref readonly var point in metric.GetMetricPoints())
                {
                    labels.Clear();
                    foreach (var tag in point.Tags)
                    {
                        AppendLabel(labels, PrometheusNames.LabelName(tag.Key), Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "");
                    }

                    var labelText = labels.ToString();
                    if (!seen.Add(labelText))
                    {
                        continue;
                    }

                    WritePoint(output, family, metric.MetricType, in point, labelText);
                }
            }
        }
    }

    private static void WritePoint(StringBuilder output, Family family, MetricType metricType, in MetricPoint point, string labels)
    {
        switch (metricType)
        {
            case MetricType.LongSum:
            case MetricType.LongSumNonMonotonic:
                WriteSample(output, family.Name, labels, null, point.GetSumLong().ToString(CultureInfo.InvariantCulture));
                break;
            case MetricType.DoubleSum:
            case MetricType.DoubleSumNonMonotonic:
                WriteSample(output, family.Name, labels, null, FormatDouble(point.GetSumDouble()));
                break;
            case MetricType.LongGauge:
                WriteSample(output, family.Name, labels, null, point.GetGaugeLastValueLong().ToString(CultureInfo.InvariantCulture));
                break;
            case MetricType.DoubleGauge:
                WriteSample(output, family.Name, labels, null, FormatDouble(point.GetGaugeLastValueDouble()));
                break;
            case MetricType.Histogram:
                long cumulative = 0;
                foreach (var bucket in point.GetHistogramBuckets())
                {
                    cumulative += bucket.BucketCount;
                    var le = double.IsPositiveInfinity(bucket.ExplicitBound) ? "+Inf" : FormatDouble(bucket.ExplicitBound);
                    WriteSample(output, family.Name + "_bucket", labels, le, cumulative.ToString(CultureInfo.InvariantCulture));
                }

                WriteSample(output, family.Name + "_sum", labels, null, FormatDouble(point.GetHistogramSum()));
                WriteSample(output, family.Name + "_count", labels, null, point.GetHistogramCount().ToString(CultureInfo.InvariantCulture));
                break;
        }
    }

    private static void WriteSample(StringBuilder output, string name, string labels, string? le, string value)
    {
        output.Append(name);
        if (labels.Length > 0 || le is not null)
        {
            output.Append('{').Append(labels);
            if (le is not null)
            {
                if (labels.Length > 0)
                {
                    output.Append(',');
                }

                output.Append("le=\"").Append(le).Append('"');
            }

            output.Append('}');
        }

        output.Append(' ').Append(value).Append('\n');
    }

    private static void AppendLabel(StringBuilder labels, string name, string value)
    {
        if (labels.Length > 0)
        {
            labels.Append(',');
        }

        labels.Append(name).Append("=\"");
        AppendEscaped(labels, value, escapeQuotes: true);
        labels.Append('"');
    }

    private static void AppendEscaped(StringBuilder output, string value, bool escapeQuotes)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\':
                    output.Append("\\\\");
                    break;
                case '\n':
                    output.Append("\\n");
                    break;
                case '"' when escapeQuotes:
                    output.Append("\\\"");
                    break;
                default:
                    output.Append(c);
                    break;
            }
        }
    }

    internal static string FormatDouble(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (double.IsPositiveInfinity(value))
        {
            return "+Inf";
        }

        return double.IsNegativeInfinity(value) ? "-Inf" : value.ToString("R", CultureInfo.InvariantCulture);
    }

    private static PrometheusType? TypeOf(MetricType type) => type switch
    {
        MetricType.LongSum or MetricType.DoubleSum => PrometheusType.Counter,
        MetricType.LongSumNonMonotonic or MetricType.DoubleSumNonMonotonic or MetricType.LongGauge or MetricType.DoubleGauge => PrometheusType.Gauge,
        MetricType.Histogram => PrometheusType.Histogram,
        // Exponential histograms are not configured by the gateway and have no 0.0.4 text form.
        _ => null,
    };

    private sealed class Family(string name, PrometheusType type, string help)
    {
        public string Name { get; } = name;

        public PrometheusType Type { get; } = type;

        public string Help { get; } = help;

        public List<Metric> Metrics { get; } = [];
    }
}
