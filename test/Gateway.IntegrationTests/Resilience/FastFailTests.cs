using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Resilience;

/// <summary>Acceptance 3: every destination open → an immediate 503 + Retry-After (1013 on browser routes), and the fallback cluster.</summary>
[Collection(TimingCollection.Name)]
public sealed class FastFailTests : IAsyncLifetime
{
    private readonly RefusingPort _refusing1 = Breakers.RefusingPort();
    private readonly RefusingPort _refusing2 = Breakers.RefusingPort();
    private EchoBackend _fallbackBackend = null!;
    private GatewayInstance _gateway = null!;
    private string _cluster = "";
    private string _fallbackRoute = "";

    public async Task InitializeAsync()
    {
        _fallbackBackend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        _cluster = settings.Cluster("down", _refusing1.Address, _refusing2.Address);
        Breakers.Configure(settings, _cluster, minimumThroughput: 2, breakDuration: "00:01:00");
        settings.Route("down", "/down", _cluster);
        var browser = settings.Route("down-browser", "/browser", _cluster);
        settings[$"ReverseProxy:Routes:{browser}:Metadata:Gateway.BrowserFacing"] = "true";
        var fallbackCluster = settings.Cluster("maintenance", _fallbackBackend.Address);
        _fallbackRoute = settings.Route("down-with-fallback", "/degradable", _cluster);
        settings[$"ReverseProxy:Routes:{_fallbackRoute}:Metadata:Gateway.FallbackCluster"] = fallbackCluster;
        _gateway = await GatewayInstance.StartAsync(settings);

        // Each attempt is refused by one destination, retried on the other, refused again (502): both breakers open.
        for (var i = 0; i < 2; i++)
        {
            var (status, _) = await WebSocketClient.FailedUpgradeAsync(_gateway.Ws("/down"));
            Assert.Equal(HttpStatusCode.BadGateway, status);
        }

        await Eventually.EqualAsync(2.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_breaker_state", ("cluster", _cluster), ("state", "open")));
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _fallbackBackend.DisposeAsync();
        _refusing1.Dispose();
        _refusing2.Dispose();
    }

    [Fact]
    public async Task EveryUpgrade_IsAnswered503WithRetryAfter_Quickly()
    {
        // One untimed answer first: the first call of the path pays for JIT compilation (Debug builds) on both sides.
        await WebSocketClient.FailedUpgradeAsync(_gateway.Ws("/down"));
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < 50; i++)
        {
            var watch = Stopwatch.StartNew();
            var (status, headers) = await WebSocketClient.FailedUpgradeAsync(_gateway.Ws("/down"));
            slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            // Until the first breaker's trial (about a minute away) plus up to 5 s of jitter.
            Assert.InRange(int.Parse(Assert.Single(headers!["Retry-After"]), CultureInfo.InvariantCulture), 50, 66);
        }

        // Generous bound for a shared 2-core machine; docs/benchmarks.md has the measured figure.
        Assert.True(slowest < TimeSpan.FromMilliseconds(200), $"slowest fast failure took {slowest.TotalMilliseconds} ms");
        var metrics = await _gateway.MetricsAsync();
        Assert.True(metrics.Sum("gateway_upgrades_fast_failed_total", ("cluster", _cluster)) >= 51);
        Assert.Contains(_gateway.Logs.Entries, e => e.EventId.Name == "ClusterUnavailable" && e.Message.Contains(_cluster, StringComparison.Ordinal));
    }

    [Fact]
    public async Task BrowserFacingRoute_AcceptsThenClosesWith1013AndTheHint()
    {
        using var socket = await WebSocketClient.ConnectAsync(_gateway.Ws("/browser"));
        var (status, description) = await socket.ReceiveCloseAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((WebSocketCloseStatus)1013, status);
        Assert.Matches(@"^Try Again Later; retry after \d+ s$", description);
    }

    [Fact]
    public async Task RouteWithFallback_IsServedByTheFallbackCluster_TaggedDegraded()
    {
        using var socket = await WebSocketClient.ConnectAsync(_gateway.Ws("/degradable"));
        Assert.Equal([1, 2], await socket.EchoAsync([1, 2], WebSocketMessageType.Binary));
        Assert.Equal(1, _fallbackBackend.ActiveSessions);

        var metrics = await _gateway.MetricsAsync();
        Assert.Equal(1, metrics.Sum("gateway_sessions_degraded", ("route", _fallbackRoute)));
        Assert.Contains(_gateway.Logs.Entries, e => e.EventId.Name == "RouteDegraded" && e.Message.Contains(_fallbackRoute, StringComparison.Ordinal));

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Eventually.EqualAsync(0.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_sessions_degraded", ("route", _fallbackRoute)));
    }
}
