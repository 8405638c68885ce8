using System.Diagnostics;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Gateway.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Benchmarks;

/// <summary>
/// What recording costs under each <see cref="MetricsPipeline"/>, measured alone (the relay benchmark's noise would
/// hide it): the relay's share of a read or write (<see cref="SessionMetrics.Relayed"/>: bytes and messages
/// counters, two tags each), and a request's (a duration histogram with the six tags ASP.NET Core gives
/// <c>http.server.request.duration</c>, one of them an integer status code).
/// </summary>
[MemoryDiagnoser]
public class MetricsPipelineBenchmarks
{
    private IDisposable? _pipeline;
    private SessionMetrics _metrics = null!;
    private Histogram<double> _requestDuration = null!;

    [Params(MetricsPipeline.Off, MetricsPipeline.OpenTelemetrySdk, MetricsPipeline.PrometheusNet)]
    public MetricsPipeline Metrics { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        _pipeline = MetricsPipelines.Attach(Metrics, meters);
        _metrics = new SessionMetrics(meters);
        _requestDuration = meters.Create("Microsoft.AspNetCore.Hosting").CreateHistogram<double>("http.server.request.duration", "s");
    }

    [GlobalCleanup]
    public void Cleanup() => _pipeline?.Dispose();

    [Benchmark]
    public void Relayed() => _metrics.Relayed("chat", SessionMetrics.BackendToClient, 1024, 16);

    [Benchmark]
    public void RequestDuration() => _requestDuration.Record(0.0042, new TagList
    {
        { "http.request.method", "GET" },
        { "url.scheme", "http" },
        { "network.protocol.name", "http" },
        { "network.protocol.version", "1.1" },
        { "http.route", "/chat/{**catch-all}" },
        { "http.response.status_code", 503 },
    });
}
