using Gateway.Telemetry;

namespace Gateway.Tests.Telemetry;

public sealed class PrometheusNamesTests
{
    [Theory]
    [InlineData("gateway.sessions.active", "{session}", "Gauge", "gateway_sessions_active")]
    [InlineData("gateway.sessions.closed", "{session}", "Counter", "gateway_sessions_closed_total")]
    [InlineData("gateway.session.duration", "s", "Histogram", "gateway_session_duration_seconds")]
    [InlineData("gateway.relayed", "By", "Counter", "gateway_relayed_bytes_total")]
    [InlineData("dotnet.gc.heap.total_allocated", "By", "Counter", "dotnet_gc_heap_total_allocated_bytes_total")]
    [InlineData("dotnet.process.cpu.time", "s", "Counter", "dotnet_process_cpu_time_seconds_total")]
    [InlineData("requests.total", "{request}", "Counter", "requests_total")]
    [InlineData("already_seconds", "s", "Gauge", "already_seconds")]
    [InlineData("dotnet.assembly.count", "{assembly}", "Gauge", "dotnet_assembly_count_value")]
    [InlineData("queue.total", null, "Gauge", "queue_total_value")]
    [InlineData("cpu.utilization", "1", "Gauge", "cpu_utilization_ratio")]
    [InlineData("hits", "1", "Counter", "hits_total")]
    [InlineData("net.rate", "By/s", "Gauge", "net_rate_bytes_per_second")]
    [InlineData("9lives-and..more", "", "Gauge", "_9lives_and_more")]
    public void MetricName_FollowsOpenTelemetryPrometheusRules(string instrument, string? unit, string type, string expected)
        => Assert.Equal(expected, PrometheusNames.MetricName(instrument, unit, Enum.Parse<PrometheusType>(type)));

    [Theory]
    [InlineData("server.address", "server_address")]
    [InlineData("error.type", "error_type")]
    [InlineData("__reserved", "_reserved")]
    [InlineData("1st", "_1st")]
    public void LabelName_IsValidAndNeverReserved(string key, string expected) => Assert.Equal(expected, PrometheusNames.LabelName(key));
}
