namespace Gateway.Benchmarks;

/// <summary>
/// What listens to the gateway's instruments in a benchmark: nothing, the OpenTelemetry SDK's aggregation (what
/// /metrics ran on until issue 15: the SDK aggregated every measurement, a hand-written exporter wrote the text at
/// each scrape), or the prometheus-net bridge that serves /metrics now (<see cref="Gateway.Telemetry.GatewayTelemetry"/>).
/// </summary>
public enum MetricsPipeline
{
    Off,
    OpenTelemetrySdk,
    PrometheusNet,
}
