using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gateway.Telemetry;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Telemetry;

/// <summary>The exporter behind the real OpenTelemetry SDK: exact exposition text for each instrument kind.</summary>
public sealed class PrometheusExporterTests
{
    [Fact]
    public void Scrape_EveryInstrumentKind_WritesPrometheusText()
    {
        var meters = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(new PrometheusExporter(), meters);
        var meter = meters.Create("Gateway.Test");
        var counter = meter.CreateCounter<long>("test.requests", "{request}", "Requests seen.");
        var upDown = meter.CreateUpDownCounter<long>("test.active", "{session}", "Active now.");
        var histogram = meter.CreateHistogram("test.latency", "s", "Latency.", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2] });
        meter.CreateObservableGauge("test.temperature", () => 21.5, "Cel", "");

        counter.Add(3, new TagList { { "route", "a\"b\\c\nd" } });
        counter.Add(4, new TagList { { "route", "plain" } });
        upDown.Add(5);
        upDown.Add(-2);
        histogram.Record(0.5);
        histogram.Record(1.5);
        histogram.Record(3);

        var text = telemetry.Exporter.Scrape();

        Assert.Contains("# HELP test_requests_total Requests seen.\n# TYPE test_requests_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("test_requests_total{route=\"a\\\"b\\\\c\\nd\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("test_requests_total{route=\"plain\"} 4\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE test_active gauge\ntest_active 3\n", text, StringComparison.Ordinal);
        Assert.Contains(
            "# TYPE test_latency_seconds histogram\n"
            + "test_latency_seconds_bucket{le=\"1\"} 1\n"
            + "test_latency_seconds_bucket{le=\"2\"} 2\n"
            + "test_latency_seconds_bucket{le=\"+Inf\"} 3\n"
            + "test_latency_seconds_sum 5\n"
            + "test_latency_seconds_count 3\n",
            text,
            StringComparison.Ordinal);
        // No description: the instrument name stands in, so promtool never reports missing help.
        Assert.Contains("# HELP test_temperature_celsius test.temperature\n# TYPE test_temperature_celsius gauge\ntest_temperature_celsius 21.5\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Scrape_InstrumentsOfAnotherHostsMeterFactory_AreNotExported()
    {
        var mine = TestServices.MeterFactory();
        var other = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(new PrometheusExporter(), mine);
        mine.Create("Gateway.Test").CreateCounter<long>("test.mine").Add(1);
        other.Create("Gateway.Test").CreateCounter<long>("test.theirs").Add(1);

        var text = telemetry.Exporter.Scrape();

        Assert.Contains("test_mine_total 1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("test_theirs", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Scrape_SameNameFromTwoMeters_IsOneFamilyWithOneHelpAndType()
    {
        var meters = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(new PrometheusExporter(), meters);
        meters.Create("Gateway.One").CreateCounter<long>("test.shared").Add(1, new TagList { { "from", "one" } });
        meters.Create("Gateway.Two").CreateCounter<long>("test.shared").Add(2, new TagList { { "from", "two" } });

        var text = telemetry.Exporter.Scrape();

        Assert.Single(text.Split('\n'), line => line.StartsWith("# TYPE test_shared_total", StringComparison.Ordinal));
        Assert.Contains("test_shared_total{from=\"one\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("test_shared_total{from=\"two\"} 2\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(0.1, "0.1")]
    [InlineData(1e-7, "1E-07")]
    public void FormatDouble_UsesPrometheusSpellings(double value, string expected) => Assert.Equal(expected, PrometheusTextWriter.FormatDouble(value));
}
