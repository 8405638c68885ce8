using System.Net;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Telemetry;

/// <summary>Acceptance 6: a live /metrics passes promtool, and the management API exists only on its own port.</summary>
public sealed class MetricsEndpointTests : IClassFixture<EchoGatewayFixture>
{
    private readonly EchoGatewayFixture _fixture;

    public MetricsEndpointTests(EchoGatewayFixture fixture)
    {
        _fixture = fixture;
    }

    [RequiresToolFact("promtool")]
    public async Task LiveMetrics_AfterRealTraffic_PassPromtoolWithNoOutput()
    {
        // Traffic first, so gateway, Kestrel, hosting and HTTP client instruments all have series.
        using (var socket = await WebSocketClient.ConnectAsync(_fixture.Gateway.Ws("/echo")))
        {
            await socket.EchoAsync(new byte[300], WebSocketMessageType.Binary);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        using var client = new HttpClient();
        await client.GetStringAsync(_fixture.Gateway.Http("/echo/plain"));
        var response = await client.GetAsync(new Uri(_fixture.Gateway.Management, "/metrics"));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        foreach (var family in new[] { "gateway_sessions_active", "gateway_sessions_opened_total", "gateway_sessions_closed_total", "gateway_session_duration_seconds", "gateway_relayed_bytes_total", "kestrel_active_connections", "http_server_request_duration_seconds", "dotnet_gc_collections_total" })
        {
            Assert.Contains($"# TYPE {family} ", text, StringComparison.Ordinal);
        }

        var (exitCode, output, error) = await ExternalProcess.RunAsync(ExternalTool.Find("promtool") ?? "promtool", ["check", "metrics"], standardInput: text);
        Assert.True(exitCode == 0 && output.Length == 0 && error.Length == 0, $"promtool exit {exitCode}:\n{output}{error}");
    }

    [Theory]
    [InlineData("/metrics")]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task ManagementPaths_OnPublicPort_Answer404(string path)
    {
        using var client = new HttpClient();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(_fixture.Gateway.Http(path))).StatusCode);
        // A forged Host header naming the management port changes nothing: the listener decides.
        using var request = new HttpRequestMessage(HttpMethod.Get, _fixture.Gateway.Http(path));
        request.Headers.Host = $"127.0.0.1:{_fixture.Gateway.ManagementEndPoint.Port}";
        Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(request)).StatusCode);
    }

    [Theory]
    [InlineData("/healthz", HttpStatusCode.OK)]
    [InlineData("/readyz", HttpStatusCode.OK)]
    [InlineData("/metrics", HttpStatusCode.OK)]
    [InlineData("/echo", HttpStatusCode.NotFound)]
    [InlineData("/", HttpStatusCode.NotFound)]
    public async Task ManagementPort_ServesOnlyTheManagementApi(string path, HttpStatusCode expected)
    {
        using var client = new HttpClient();
        Assert.Equal(expected, (await client.GetAsync(new Uri(_fixture.Gateway.Management, path))).StatusCode);
    }
}
