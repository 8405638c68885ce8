using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Gateway.IntegrationTests.Admission;

/// <summary>Acceptance 1: a reconnect storm against rate 200/s, burst 100, high watermark 500.</summary>
public sealed class StormTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const double Rate = 200;
    private const int Burst = 100;
    private const int High = 500;

    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _routeId = "";
    private string _browserRouteId = "";

    public async Task InitializeAsync()
    {
        _backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("storm", _backend.Address);
        _routeId = settings.Route("storm", "/storm", cluster);
        _browserRouteId = settings.Route("browser", "/browser", cluster);
        settings[$"ReverseProxy:Routes:{_browserRouteId}:Metadata:Gateway.BrowserFacing"] = "true";
        settings["Gateway:Admission:Rate:PermitsPerSecond"] = Rate.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Gateway:Admission:Rate:Burst"] = Burst.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // The refill stays at the full rate up to the high watermark, so the token arithmetic below is exact.
        settings["Gateway:Admission:Rate:MinimumPermitsPerSecond"] = "200";
        settings["Gateway:Admission:Watermarks:Low"] = "450";
        settings["Gateway:Admission:Watermarks:High"] = High.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Gateway:Admission:Watermarks:Critical"] = "600";
        // Admission alone: the heartbeat would shed the coldest sessions above the high watermark (its tier 4).
        settings["Gateway:Heartbeat:Pressure:Enabled"] = "false";
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task Storm_3000Attempts_AdmitsWithinTheTokenArithmetic_RejectsWithRetryAfter_BackendSeesOnlyAdmitted()
    {
        const int Attempts = 3000;
        var outcomes = new ConcurrentBag<UpgradeOutcome>();
        using var stormOver = new CancellationTokenSource();
        var health = PollHealthAsync(stormOver.Token);

        var clock = Stopwatch.StartNew();
        try
        {
            await RunStormAsync(Attempts, _gateway.Ws("/storm/x"), closeWait: null, outcomes);
            var elapsed = clock.Elapsed;
            stormOver.Cancel();
            var (healthAnswers, healthFailures, slowestHealth) = await health;

            var admitted = outcomes.Count(o => o.Open);
            var rejected = outcomes.Where(o => !o.Open).ToList();
            // The bound: the bucket starts full (Burst tokens) and refills at Rate per second for as long as the
            // storm lasts; and no more than High sessions can be open on a non-priority route. One token of slack
            // for the refill that lands between the last attempt and the clock read.
            var bound = Math.Min(High, Burst + (int)Math.Ceiling(Rate * elapsed.TotalSeconds) + 1);
            output.WriteLine($"{Attempts} attempts in {elapsed.TotalSeconds:F2} s: {admitted} admitted (bound {bound}), {rejected.Count} rejected; /healthz {healthAnswers} answers, slowest {slowestHealth.TotalMilliseconds:F0} ms.");
            Assert.True(admitted <= bound, $"{admitted} admitted in {elapsed.TotalSeconds:F2} s; the bound is {bound}.");
            Assert.True(admitted >= Burst, $"Only {admitted} admitted; a full bucket alone holds {Burst}.");
            Assert.Equal(Attempts, admitted + rejected.Count);
            Assert.All(rejected, outcome =>
            {
                Assert.True(outcome.Status == HttpStatusCode.ServiceUnavailable, $"Rejection answered {outcome}");
                Assert.True(int.TryParse(outcome.RetryAfter, out var seconds) && seconds >= 1, $"Retry-After '{outcome.RetryAfter}'");
            });
            // Jitter: rejected clients are not all told the same second.
            Assert.True(rejected.Select(o => o.RetryAfter).Distinct().Count() > 1);

            // Only admitted sessions reached the backend: one HTTP/1.1 connection and one session each.
            await Eventually.EqualAsync(admitted, () => _backend.SessionsAccepted);
            Assert.Equal(admitted, _backend.ConnectionsAccepted);
            Assert.Equal(admitted, _backend.ActiveSessions);

            var metrics = await _gateway.MetricsAsync();
            Assert.Equal(admitted, metrics.Sum("gateway_admission_admitted_total", ("route", _routeId)));
            Assert.Equal(rejected.Count, metrics.Sum("gateway_admission_rejected_total", ("route", _routeId)));
            Assert.Equal(admitted, metrics.Sum("gateway_admission_sessions"));

            Assert.Equal(0, healthFailures);
            Assert.True(healthAnswers >= 3, $"/healthz answered only {healthAnswers} times during the storm.");
            Assert.True(slowestHealth < TimeSpan.FromSeconds(2), $"/healthz took {slowestHealth.TotalMilliseconds:F0} ms during the storm.");
        }
        finally
        {
            stormOver.Cancel();
            await CloseAllAsync(outcomes);
        }
    }

    [Fact]
    public async Task Storm_OnABrowserFacingRoute_RejectsByAcceptingThenClosing1013WithTheRetryHint()
    {
        const int Attempts = 600;
        var outcomes = new ConcurrentBag<UpgradeOutcome>();
        var clock = Stopwatch.StartNew();
        try
        {
            await RunStormAsync(Attempts, _gateway.Ws("/browser/x"), closeWait: TimeSpan.FromMilliseconds(300), outcomes);
            var elapsed = clock.Elapsed;

            var admitted = outcomes.Count(o => o.Open);
            var rejected = outcomes.Where(o => !o.Open).ToList();
            var bound = Math.Min(High, Burst + (int)Math.Ceiling(Rate * elapsed.TotalSeconds) + 1);
            output.WriteLine($"{Attempts} attempts in {elapsed.TotalSeconds:F2} s: {admitted} admitted (bound {bound}), {rejected.Count} closed with 1013.");
            Assert.InRange(admitted, Burst, bound);
            Assert.NotEmpty(rejected);
            Assert.All(rejected, outcome =>
            {
                Assert.True(outcome.CloseStatus == (WebSocketCloseStatus)1013, $"Rejection answered {outcome}");
                Assert.Matches("^Try Again Later; retry after [1-9][0-9]* s$", outcome.CloseDescription);
            });

            await Eventually.EqualAsync(admitted, () => _backend.SessionsAccepted);
            Assert.Equal(admitted, _backend.ConnectionsAccepted);
            var metrics = await _gateway.MetricsAsync();
            // rate_global while tokens last, watermark_high once 500 are open.
            Assert.Equal(rejected.Count, metrics.Sum("gateway_admission_rejected_total", ("route", _browserRouteId)));
        }
        finally
        {
            await CloseAllAsync(outcomes);
        }
    }

    private static async Task RunStormAsync(int attempts, Uri uri, TimeSpan? closeWait, ConcurrentBag<UpgradeOutcome> outcomes)
    {
        // As fast as the test process can: 64 attempts in flight, each starting as soon as one ends.
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < attempts)
            {
                outcomes.Add(await UpgradeAttempt.RunAsync(uri, closeWait: closeWait));
            }
        })));
    }

    private async Task<(int Answers, int Failures, TimeSpan Slowest)> PollHealthAsync(CancellationToken stop)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var answers = 0;
        var failures = 0;
        var slowest = TimeSpan.Zero;
        while (!stop.IsCancellationRequested)
        {
            var clock = Stopwatch.StartNew();
            try
            {
                using var response = await client.GetAsync(new Uri(_gateway.Management, "/healthz"), CancellationToken.None);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    answers++;
                }
                else
                {
                    failures++;
                }
            }
            catch (HttpRequestException)
            {
                failures++;
            }

            slowest = clock.Elapsed > slowest ? clock.Elapsed : slowest;
            try
            {
                await Task.Delay(50, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }

        return (answers, failures, slowest);
    }

    private static async Task CloseAllAsync(IEnumerable<UpgradeOutcome> outcomes)
    {
        foreach (var outcome in outcomes.Where(o => o.Socket is not null))
        {
            outcome.Socket!.Abort();
            outcome.Socket.Dispose();
        }

        await Task.CompletedTask;
    }
}
