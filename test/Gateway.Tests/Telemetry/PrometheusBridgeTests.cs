using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gateway.Telemetry;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Telemetry;

/// <summary>
/// System.Diagnostics.Metrics instruments through <see cref="PrometheusBridge"/> into prometheus-net: the names,
/// types and units /metrics had with the OpenTelemetry-based exporter, and prometheus-net's exposition text.
/// </summary>
public sealed class PrometheusBridgeTests
{
    [Fact]
    public async Task Scrape_EveryInstrumentKind_KeepsNameTypeAndUnit()
    {
        var meters = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(meters);
        var meter = meters.Create("Gateway.Test");
        var counter = meter.CreateCounter<long>("test.requests", "{request}", "Requests seen.");
        var upDown = meter.CreateUpDownCounter<long>("test.active", "{session}", "Active now.");
        var histogram = meter.CreateHistogram("test.latency", "s", "Latency.", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2] });
        meter.CreateObservableGauge("test.temperature", () => 21.5, "Cel", "");
        var total = 0L;
        meter.CreateObservableCounter("test.ticks", () => total += 10, "{tick}", "Ticks so far.");

        counter.Add(3, new TagList { { "route", "a\"b\\c\nd" } });
        counter.Add(4, new TagList { { "route", "plain" } });
        upDown.Add(5);
        upDown.Add(-2);
        histogram.Record(0.5);
        histogram.Record(1.5);
        histogram.Record(3);

        var text = await telemetry.ScrapeAsync();

        Assert.Contains("# HELP test_requests_total Requests seen.\n# TYPE test_requests_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("test_requests_total{route=\"a\\\"b\\\\c\\nd\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("test_requests_total{route=\"plain\"} 4\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE test_active gauge\ntest_active 3\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE test_latency_seconds histogram\n", text, StringComparison.Ordinal);
        Assert.Contains("test_latency_seconds_sum 5\n", text, StringComparison.Ordinal);
        Assert.Contains("test_latency_seconds_count 3\n", text, StringComparison.Ordinal);
        Assert.Contains("test_latency_seconds_bucket{le=\"1\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("test_latency_seconds_bucket{le=\"2\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("test_latency_seconds_bucket{le=\"+Inf\"} 3\n", text, StringComparison.Ordinal);
        // No description: the instrument name stands in, so promtool never reports missing help.
        Assert.Contains("# HELP test_temperature_celsius test.temperature\n# TYPE test_temperature_celsius gauge\ntest_temperature_celsius 21.5\n", text, StringComparison.Ordinal);
        // An observable counter is read at each scrape and stays a counter.
        Assert.Contains("# TYPE test_ticks_total counter\ntest_ticks_total 10\n", text, StringComparison.Ordinal);
        Assert.Contains("test_ticks_total 20\n", await telemetry.ScrapeAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_InstrumentsOfAnotherHostsMeterFactory_AreNotExported()
    {
        var mine = TestServices.MeterFactory();
        var other = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(mine);
        mine.Create("Gateway.Test").CreateCounter<long>("test.mine").Add(1);
        other.Create("Gateway.Test").CreateCounter<long>("test.theirs").Add(1);
        mine.Create("Unlisted.Meter").CreateCounter<long>("test.unlisted").Add(1);

        var text = await telemetry.ScrapeAsync();

        Assert.Contains("test_mine_total 1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("test_theirs", text, StringComparison.Ordinal);
        Assert.DoesNotContain("test_unlisted", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_SameNameFromTwoMeters_IsOneFamilyWithOneHelpAndType()
    {
        var meters = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(meters);
        meters.Create("Gateway.One").CreateCounter<long>("test.shared").Add(1, new TagList { { "from", "one" } });
        meters.Create("Gateway.Two").CreateCounter<long>("test.shared").Add(2, new TagList { { "from", "two" } });

        var text = await telemetry.ScrapeAsync();

        Assert.Single(text.Split('\n'), line => line.StartsWith("# TYPE test_shared_total", StringComparison.Ordinal));
        Assert.Contains("test_shared_total{from=\"one\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("test_shared_total{from=\"two\"} 2\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_OneInstrumentWithSeveralTagKeySets_KeepsEverySeriesInOneFamily()
    {
        // ASP.NET Core adds error.type only to failed requests, as Kestrel adds tags only to some connections.
        var meters = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(meters);
        var counter = meters.Create("Gateway.Test").CreateCounter<long>("test.requests");
        counter.Add(1, new TagList { { "http.route", "/a" } });
        counter.Add(2, new TagList { { "http.route", "/a" }, { "error.type", "timeout" } });
        // The same keys in another order are the same series.
        counter.Add(5, new TagList { { "error.type", "timeout" }, { "http.route", "/a" } });

        var text = await telemetry.ScrapeAsync();

        Assert.Single(text.Split('\n'), line => line.StartsWith("# TYPE test_requests_total", StringComparison.Ordinal));
        Assert.Contains("test_requests_total{http_route=\"/a\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("test_requests_total{error_type=\"timeout\",http_route=\"/a\"} 7\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_MoreTagsThanHeldInline_AndNonStringValues_AreSeriesLikeAnyOther()
    {
        var meters = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(meters);
        var counter = meters.Create("Gateway.Test").CreateCounter<long>("test.wide");
        var tags = new TagList();
        for (var i = 0; i < LabelValues.Inline + 1; i++)
        {
            tags.Add($"k{i}", i);
        }

        counter.Add(2, tags);
        counter.Add(3, tags);
        tags[0] = new("k0", true);
        counter.Add(5, tags);

        var text = await telemetry.ScrapeAsync();

        Assert.Contains("test_wide_total{k0=\"0\",k1=\"1\",k2=\"2\",k3=\"3\",k4=\"4\",k5=\"5\",k6=\"6\",k7=\"7\",k8=\"8\"} 5\n", text, StringComparison.Ordinal);
        Assert.Contains("test_wide_total{k0=\"True\",k1=\"1\",k2=\"2\",k3=\"3\",k4=\"4\",k5=\"5\",k6=\"6\",k7=\"7\",k8=\"8\"} 5\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recording_AKnownSeries_AllocatesNothing_WithStringOrIntegerTags()
    {
        var meters = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(meters);
        var meter = meters.Create("Gateway.Test");
        var counter = meter.CreateCounter<long>("test.relayed");
        var histogram = meter.CreateHistogram<double>("test.request.duration", "s");
        // Boxed once here, as a caller's cached tag values would be: the bridge's own work is measured.
        object status = 503;

        var allocated = Allocations.MinimumPerRound(
            () =>
            {
                counter.Add(64, new TagList { { "route", "chat" }, { "direction", "client_to_backend" } });
                histogram.Record(0.004, new TagList { { "http.route", "/chat" }, { "http.response.status_code", status } });
            },
            warmup: 100,
            iterations: 10_000,
            rounds: 5);

        Assert.Equal(0, allocated);
        Assert.Contains("test_request_duration_seconds_count{http_response_status_code=\"503\",http_route=\"/chat\"} 50100\n", await telemetry.ScrapeAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Histogram_WithALabelPrometheusReserves_IsLeftOutNotThrownIntoTheCaller()
    {
        var meters = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(meters);
        var histogram = meters.Create("Gateway.Test").CreateHistogram<double>("test.reserved", "s");

        histogram.Record(1, new TagList { { "le", "x" } });
        histogram.Record(2, new TagList { { "route", "a" } });

        var text = await telemetry.ScrapeAsync();
        Assert.Contains("test_reserved_seconds_count{route=\"a\"} 1\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("le=\"x\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_SameNameWithAnotherType_IsLeftOutNotThrown()
    {
        var meters = TestServices.MeterFactory();
        using var telemetry = new GatewayTelemetry(meters);
        var meter = meters.Create("Gateway.Test");
        meter.CreateUpDownCounter<long>("test.clash").Add(1);
        var histogram = meter.CreateHistogram<double>("test.clash");

        histogram.Record(7);
        var text = await telemetry.ScrapeAsync();

        Assert.Contains("# TYPE test_clash gauge\ntest_clash 1\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("test_clash_sum", text, StringComparison.Ordinal);
    }
}
