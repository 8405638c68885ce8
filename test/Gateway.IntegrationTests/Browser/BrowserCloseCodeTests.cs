using Gateway.IntegrationTests.Infrastructure;
using Gateway.IntegrationTests.Resilience;
using Microsoft.Extensions.Configuration;

namespace Gateway.IntegrationTests.Browser;

/// <summary>
/// Issue 14, "A real browser": the close codes the gateway chose for browsers, as Chromium's WebSocket API reports
/// them to a page's script. A refused or fast-failed upgrade on a browser-facing route is accepted and closed with
/// 1013 and the retry hint (a page cannot read a failed handshake's status: it sees 1006), a killed backend gives
/// 1011 (1012 when its destination was being taken away), a drain 1001.
/// </summary>
[Collection(ChromiumCollection.Name)]
public sealed class BrowserCloseCodeTests
{
    private const string Origin = "http://app.test";
    private readonly ChromiumFixture _chromium;

    public BrowserCloseCodeTests(ChromiumFixture chromium) => _chromium = chromium;

    [RequiresToolFact("chromium")]
    public async Task AdmissionRefusal_BrowserFacingRoute_Reads1013AndTheRetryHint_PlainRouteOnly1006()
    {
        await using var backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("refusing", backend.Address);
        BrowserFacing(settings, settings.Route("browser", "/browser", cluster));
        settings.Route("plain", "/plain", cluster);
        // One token, then one every 100 s: every upgrade after the first is refused.
        settings["Gateway:Admission:Rate:PermitsPerSecond"] = "0.01";
        settings["Gateway:Admission:Rate:MinimumPermitsPerSecond"] = "0.01";
        settings["Gateway:Admission:Rate:Burst"] = "1";
        settings["Gateway:Admission:RetryAfterJitter"] = "00:00:00";
        await using var gateway = await GatewayInstance.StartAsync(settings);
        await using var page = await _chromium.OpenPageAsync(Origin);

        var admitted = await page.OpenedAsync(gateway.Ws("/browser/first"));
        Assert.Equal("first", await page.EchoAsync(admitted, "first"));

        var refused = await page.OpenAsync(gateway.Ws("/browser/second"));
        Assert.True(refused.Opened);
        Assert.Equal(new SocketClose { Code = 1013, Reason = "Try Again Later; retry after 100 s", WasClean = true }, await page.ClosedAsync(refused.Id));

        // The same refusal on a route that is not browser-facing is a 503 with Retry-After, which a page never sees.
        var plain = await page.OpenAsync(gateway.Ws("/plain/third"));
        Assert.False(plain.Opened);
        Assert.Equal(new SocketClose { Code = 1006, Error = true }, await page.ClosedAsync(plain.Id));

        Assert.Equal(1, backend.SessionsAccepted);
        Assert.Equal(2, (await gateway.MetricsAsync()).Sum("gateway_admission_rejected_total"));
    }

    [RequiresToolFact("chromium")]
    public async Task BreakerOpen_BrowserFacingRoute_Reads1013AndTheRetryHint()
    {
        using var refusing = Breakers.RefusingPort();
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("down", refusing.Address);
        Breakers.Configure(settings, cluster, minimumThroughput: 2, breakDuration: "00:01:00");
        settings.Route("down", "/down", cluster);
        BrowserFacing(settings, settings.Route("browser", "/browser", cluster));
        await using var gateway = await GatewayInstance.StartAsync(settings);
        // The page first: the retry hint counts down from the moment the breaker opens, and a browser's first start
        // on a loaded machine can take seconds.
        await using var page = await _chromium.OpenPageAsync(Origin);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(System.Net.HttpStatusCode.BadGateway, (await WebSocketClient.FailedUpgradeAsync(gateway.Ws("/down"))).Status);
        }

        await Eventually.EqualAsync(1.0, async () => (await gateway.MetricsAsync()).Sum("gateway_breaker_state", ("cluster", cluster), ("state", "open")));

        var failed = await page.OpenAsync(gateway.Ws("/browser/x"));

        Assert.True(failed.Opened);
        var close = await page.ClosedAsync(failed.Id);
        Assert.Equal(1013, close.Code);
        // Until the breaker's trial, about a minute away, plus the jitter.
        Assert.Matches(@"^Try Again Later; retry after (5\d|6\d) s$", close.Reason);
        Assert.True(close.WasClean);
        Assert.Equal(1, (await gateway.MetricsAsync()).Sum("gateway_upgrades_fast_failed_total", ("cluster", cluster)));
    }

    [RequiresToolFact("chromium")]
    public async Task KilledBackend_Reads1011_Or1012WhenItsDestinationWasTakenAway()
    {
        await using var doomed = await BackendProcess.StartAsync();
        await using var doomedToo = await BackendProcess.StartAsync();
        await using var survivor = await EchoBackend.StartAsync();
        var file = Path.Combine(Path.GetTempPath(), $"gateway-browser-{Guid.NewGuid():N}.json");
        WriteDestinations(file, doomed.Address, ("d1", doomedToo.Address));
        try
        {
            var settings = new GatewaySettings();
            BrowserFacing(settings, settings.Route("crash", "/crash", "crash"));
            BrowserFacing(settings, settings.Route("retire", "/retire", "retire"));
            await using var gateway = await GatewayInstance.StartAsync(settings, configure: config => config.AddJsonFile(file, optional: false, reloadOnChange: true));
            await using var page = await _chromium.OpenPageAsync(Origin);
            var crashed = await page.OpenedAsync(gateway.Ws("/crash/x"));
            var retired = await page.OpenedAsync(gateway.Ws("/retire/x"));
            Assert.Equal("a", await page.EchoAsync(crashed, "a"));
            Assert.Equal("b", await page.EchoAsync(retired, "b"));

            // A rollout replaces the second cluster's destination (d1 leaves, d2 comes); d1's open session stays
            // until its process goes (the cluster's destination drain is off, so the 1012 below is the backend loss's).
            WriteDestinations(file, doomed.Address, ("d2", survivor.Address));
            await Eventually.EqualAsync(true, async () =>
            {
                var probe = await page.OpenedAsync(gateway.Ws("/retire/probe"));
                await page.CloseAsync(probe, 1000, "");
                return survivor.SessionsAccepted > 0;
            });
            await doomed.KillAsync();
            await doomedToo.KillAsync();

            Assert.Equal(new SocketClose { Code = 1011, Reason = "backend connection lost", WasClean = true }, await page.ClosedAsync(crashed));
            Assert.Equal(new SocketClose { Code = 1012, Reason = "service restart", WasClean = true }, await page.ClosedAsync(retired));
            await Eventually.EqualAsync(2.0, async () => (await gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("reason", "backend_lost")));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [RequiresToolFact("chromium")]
    public async Task Drain_OpenSessionReads1001_NewOneReads1013()
    {
        await using var backend = await EchoBackend.StartAsync();
        await using var gateway = GatewayProcess.Start("Production", new Dictionary<string, string>
        {
            ["Gateway__Drain__Delay"] = "00:00:02",
            ["Gateway__Drain__Window"] = "00:00:00.500",
            ["ReverseProxy__Routes__app__ClusterId"] = "app",
            ["ReverseProxy__Routes__app__Match__Path"] = "/app/{**rest}",
            ["ReverseProxy__Routes__app__Metadata__Gateway.BrowserFacing"] = "true",
            ["ReverseProxy__Clusters__app__Destinations__d1__Address"] = backend.Address,
        });
        var (port, _) = await GatewayProcess.PortsAsync(gateway);
        await using var page = await _chromium.OpenPageAsync(Origin);
        var open = await page.OpenedAsync(new Uri($"ws://127.0.0.1:{port}/app/before"));
        Assert.Equal("before", await page.EchoAsync(open, "before"));

        gateway.Terminate();
        await gateway.WaitForOutputAsync(new System.Text.RegularExpressions.Regex("Drain started"), TimeSpan.FromSeconds(10));
        var late = await page.OpenAsync(new Uri($"ws://127.0.0.1:{port}/app/late"));

        Assert.True(late.Opened);
        var refusal = await page.ClosedAsync(late.Id);
        Assert.Equal(1013, refusal.Code);
        Assert.Matches(@"^Try Again Later; retry after \d+ s$", refusal.Reason);
        Assert.Equal(new SocketClose { Code = 1001, Reason = "going away", WasClean = true }, await page.ClosedAsync(open));
        Assert.Equal(0, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    /// <summary>The two clusters of the killed-backend test, as the reloadable file a rollout rewrites.</summary>
    private static void WriteDestinations(string file, string crash, (string Id, string Address) retire)
        => File.WriteAllText(file, $$"""
            { "ReverseProxy": { "Clusters": {
                "crash": { "Destinations": { "d1": { "Address": "{{crash}}" } } },
                "retire": { "Metadata": { "Gateway.DrainWindow": "off" }, "Destinations": { "{{retire.Id}}": { "Address": "{{retire.Address}}" } } } } } }
            """);

    private static void BrowserFacing(GatewaySettings settings, string route)
        => settings[$"ReverseProxy:Routes:{route}:Metadata:Gateway.BrowserFacing"] = "true";
}
