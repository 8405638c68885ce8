using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gateway.IntegrationTests.Infrastructure;
using Gateway.IntegrationTests.Resilience;
using Xunit.Abstractions;

namespace Gateway.IntegrationTests.Telemetry;

/// <summary>
/// Acceptance 4, the dashboard against real data: a real Prometheus scrapes a real gateway while real WebSocket
/// clients use it (echo sessions that open and close, quiet clients that answer pings, clients that stop answering
/// or sit idle until evicted, upgrades refused for their origin, a cluster whose destinations refuse connections
/// and a route that falls back from it), and every query of every panel, its variables filled in the way Grafana
/// does, must return a series with a number. "No data" on a panel is how a renamed metric or a mistyped label shows
/// up in production, long after the change that caused it.
/// </summary>
public sealed partial class DashboardQueryTests
{
    // Grafana's $__rate_interval for a 1 s scrape is 4 s; a wider window keeps a quantile defined through a lull.
    private const string RateInterval = "15s";
    private static readonly TimeSpan MinimumTraffic = TimeSpan.FromSeconds(16);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(40);
    private const string AllowedOrigin = "https://app.example.com";

    private readonly ITestOutputHelper _output;

    public DashboardQueryTests(ITestOutputHelper output)
    {
        _output = output;
    }

    [RequiresToolFact("prometheus")]
    public async Task EveryPanelQuery_OnAScrapedGatewayWithRealTraffic_ReturnsNumbers()
    {
        var started = Stopwatch.StartNew();
        var dashboard = GrafanaDashboard.Load();
        await using var backend = await EchoBackend.StartAsync();
        using var refusing1 = Breakers.RefusingPort();
        using var refusing2 = Breakers.RefusingPort();

        var settings = new GatewaySettings();
        var echoCluster = settings.Cluster("dash-echo", backend.Address);
        var echoRoute = settings.Route("dash-echo", "/echo", echoCluster);
        settings[$"ReverseProxy:Routes:{echoRoute}:Metadata:Gateway.AllowedOrigins"] = AllowedOrigin;
        var idleRoute = settings.Route("dash-idle", "/idle", echoCluster);
        settings[$"ReverseProxy:Routes:{idleRoute}:Metadata:Gateway.IdleTimeout"] = "00:00:02";
        var downCluster = settings.Cluster("dash-down", refusing1.Address, refusing2.Address);
        Breakers.Configure(settings, downCluster, minimumThroughput: 2, breakDuration: "00:00:05");
        var downRoute = settings.Route("dash-down", "/down", downCluster);
        var degradedRoute = settings.Route("dash-degraded", "/degraded", downCluster);
        settings[$"ReverseProxy:Routes:{degradedRoute}:Metadata:Gateway.FallbackCluster"] = echoCluster;
        settings["Gateway:Heartbeat:TickInterval"] = "00:00:00.200";
        settings["Gateway:Heartbeat:ProbeAfter"] = "00:00:01";
        settings["Gateway:Heartbeat:PongTimeout"] = "00:00:01";
        await using var gateway = await GatewayInstance.StartAsync(settings);

        await using var prometheus = await PrometheusServer.StartAsync(gateway.ManagementEndPoint);
        var instance = $"127.0.0.1:{gateway.ManagementEndPoint.Port}";
        _output.WriteLine($"gateway and Prometheus ready after {started.Elapsed.TotalSeconds:F1} s");

        using var stop = new CancellationTokenSource();
        var traffic = new Traffic(gateway, stop.Token);
        var clients = traffic.RunAsync();
        var trafficStarted = Stopwatch.StartNew();
        List<string> failures;
        var rounds = 0;
        try
        {
            await Task.Delay(MinimumTraffic);
            while (true)
            {
                rounds++;
                failures = await CheckAsync(dashboard, prometheus, instance, [echoRoute, idleRoute, downRoute, degradedRoute], [echoCluster, downCluster]);
                if (failures.Count == 0 || trafficStarted.Elapsed > Deadline)
                {
                    break;
                }

                await Task.Delay(TimeSpan.FromSeconds(2));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await clients;
        }

        var queries = dashboard.QueryPanels.Sum(panel => panel.Targets.Count);
        _output.WriteLine($"{dashboard.QueryPanels.Count()} panels, {queries} queries; checked {rounds} time(s) after {trafficStarted.Elapsed.TotalSeconds:F1} s of traffic ({traffic.Summary}); test took {started.Elapsed.TotalSeconds:F1} s");
        Assert.True(
            failures.Count == 0,
            $"{failures.Count} dashboard queries returned no number after {trafficStarted.Elapsed.TotalSeconds:F0} s of traffic ({traffic.Summary}):\n{string.Join('\n', failures)}\n\nPrometheus targets: {await prometheus.TargetsAsync()}\nPrometheus log:\n{prometheus.Output}");
    }

    /// <summary>Fills in the variables as Grafana would and runs every query; returns one line per failing query (or variable).</summary>
    private static async Task<List<string>> CheckAsync(GrafanaDashboard dashboard, PrometheusServer prometheus, string instance, string[] routes, string[] clusters)
    {
        var failures = new List<string>();
        var expected = new Dictionary<string, string[]> { ["instance"] = [instance], ["route"] = routes, ["cluster"] = clusters };
        var values = new Dictionary<string, string>
        {
            ["__rate_interval"] = RateInterval,
            ["__interval"] = "1s",
            ["__interval_ms"] = "1000",
            ["__range"] = "5m",
            ["__range_s"] = "300",
            ["__range_ms"] = "300000",
        };

        // In the dashboard's order, as Grafana resolves them: route's query depends on $instance.
        foreach (var variable in dashboard.Variables.Where(variable => (string?)variable["type"] == "query"))
        {
            var name = (string)variable["name"]!;
            var query = Substitute(GrafanaDashboard.VariableQuery(variable) ?? "", values);
            var match = GrafanaDashboard.LabelValues().Match(query);
            if (!match.Success)
            {
                failures.Add($"variable {name}: not label_values(selector, label): {query}");
                continue;
            }

            var found = await prometheus.LabelValuesAsync(match.Groups["label"].Value, match.Groups["selector"].Value);
            var absent = expected.TryGetValue(name, out var wanted) ? wanted.Except(found).ToArray() : [];
            if (found.Count == 0 || absent.Length > 0)
            {
                failures.Add($"variable {name}: {query} gave [{string.Join(", ", found)}], missing [{string.Join(", ", absent)}]");
            }

            // "All" selected: Grafana joins the escaped values into one regex.
            values[name] = "(" + string.Join('|', found.Select(value => Regex.Escape(value).Replace(@"\", @"\\", StringComparison.Ordinal))) + ")";
        }

        foreach (var panel in dashboard.QueryPanels)
        {
            foreach (var target in panel.Targets)
            {
                var expr = Substitute(target.Expr, values);
                var problem = expr.Contains('$', StringComparison.Ordinal) ? "a variable left unfilled" : Problem(await prometheus.QueryAsync(expr));
                if (problem is not null)
                {
                    failures.Add($"{panel} target {target.RefId}: {problem}\n    {target.Expr}");
                }
            }
        }

        return failures;
    }

    private static string Substitute(string query, IReadOnlyDictionary<string, string> values)
        => GrafanaDashboard.VariableReference().Replace(query, match =>
        {
            var name = match.Groups["braced"].Success ? match.Groups["braced"].Value : match.Groups["plain"].Value;
            return values.TryGetValue(name, out var value) ? value : match.Value;
        });

    /// <summary>Why a query's answer would leave its panel empty or broken; null when it has only finite numbers.</summary>
    private static string? Problem(JsonObject response)
    {
        if ((string?)response["status"] != "success")
        {
            return $"{response["errorType"]}: {response["error"]}";
        }

        var data = response["data"]!;
        var results = data["result"]!.AsArray();
        if ((string?)data["resultType"] != "vector" || results.Count == 0)
        {
            return $"no series (result type {data["resultType"]}, {results.Count} results)";
        }

        var bad = results
            .Select(result => (labels: result!["metric"]!.ToJsonString(), value: (string)result["value"]![1]!))
            .Where(sample => !double.TryParse(sample.value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || !double.IsFinite(number))
            .ToArray();
        return bad.Length == 0 ? null : "not a number: " + string.Join(", ", bad.Select(sample => $"{sample.labels} = {sample.value}"));
    }

    /// <summary>
    /// Real clients doing what the dashboard's panels count, all at once until stopped: every kind of close, every
    /// eviction tier but pressure, pings answered and unanswered, rejections, backend failures and a fallback.
    /// </summary>
    private sealed class Traffic(GatewayInstance gateway, CancellationToken stop)
    {
        private int _echoSessions;
        private int _rejected;
        private int _refused;
        private int _degraded;
        private int _evicted;
        private int _errors;
        private string? _lastError;

        public string Summary
            => $"{Volatile.Read(ref _echoSessions)} echo sessions, {Volatile.Read(ref _evicted)} evictions seen by clients, {Volatile.Read(ref _rejected)} origin rejections, {Volatile.Read(ref _refused)} upgrades to the refusing cluster, {Volatile.Read(ref _degraded)} fallback sessions, {Volatile.Read(ref _errors)} unexpected client errors{(_lastError is null ? "" : " (last: " + _lastError + ")")}";

        public Task RunAsync()
            => Task.WhenAll(
                Loop(EchoSessionAsync),
                Loop(EchoSessionAsync),
                Loop(QuietClientAsync),
                Loop(QuietClientAsync),
                Loop(IdleClientAsync),
                Loop(UnresponsiveClientAsync),
                Loop(ForbiddenOriginAsync),
                Loop(RefusedClusterAsync),
                Loop(FallbackSessionAsync));

        // Short sessions with messages both ways, closed by the client: opens, closes and durations keep moving.
        private async Task EchoSessionAsync()
        {
            using var socket = await WebSocketClient.ConnectAsync(gateway.Ws("/echo/session"), cancellationToken: stop);
            await socket.EchoAsync("hello"u8.ToArray(), WebSocketMessageType.Text, stop);
            await socket.EchoAsync(new byte[4096], WebSocketMessageType.Binary, stop);
            await Task.Delay(Random.Shared.Next(100, 600), stop);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, stop);
            Interlocked.Increment(ref _echoSessions);
            await Task.Delay(100, stop);
        }

        // Sends nothing and answers every ping (a receive is pending) until the test ends: pings, pongs and round
        // trips. Reconnects if a stalled machine made it miss a pong and it was evicted.
        private async Task QuietClientAsync()
        {
            using var socket = await WebSocketClient.ConnectAsync(gateway.Ws("/echo/quiet"), keepAlive: TimeSpan.Zero, cancellationToken: stop);
            await socket.ReceiveCloseAsync(stop);
        }

        // Answers pings but sends nothing: closed by the route's 2 s idle timeout (tier idle).
        private async Task IdleClientAsync()
        {
            using var socket = await WebSocketClient.ConnectAsync(gateway.Ws("/idle/quiet"), keepAlive: TimeSpan.Zero, cancellationToken: stop);
            await socket.ReceiveCloseAsync(stop);
            Interlocked.Increment(ref _evicted);
        }

        // Never answers a ping: evicted after ProbeAfter + PongTimeout (tier unresponsive).
        private async Task UnresponsiveClientAsync()
        {
            await using var client = await RawClient.ConnectAsync(gateway.Ws("/echo/unresponsive"));
            while (!stop.IsCancellationRequested && await client.ReadAsync(TimeSpan.FromSeconds(5)) is not null)
            {
            }

            Interlocked.Increment(ref _evicted);
        }

        // 403 before any backend is asked (admission rejection, reason origin).
        private async Task ForbiddenOriginAsync()
        {
            var outcome = await UpgradeAttempt.RunAsync(gateway.Ws("/echo/forbidden"), headers: new Dictionary<string, string> { ["Origin"] = "https://evil.example.com" }, cancellationToken: stop);
            outcome.Socket?.Dispose();
            Interlocked.Increment(ref _rejected);
            await Task.Delay(300, stop);
        }

        // Refused connections (502, retried on the other destination), then open breakers and fast 503s.
        private async Task RefusedClusterAsync()
        {
            var outcome = await UpgradeAttempt.RunAsync(gateway.Ws("/down/x"), cancellationToken: stop);
            outcome.Socket?.Dispose();
            Interlocked.Increment(ref _refused);
            await Task.Delay(300, stop);
        }

        // While the refusing cluster's breakers are open, this route's sessions go to its fallback, tagged degraded.
        private async Task FallbackSessionAsync()
        {
            var outcome = await UpgradeAttempt.RunAsync(gateway.Ws("/degraded/x"), cancellationToken: stop);
            using var socket = outcome.Socket;
            if (socket is not null && outcome.Open)
            {
                Interlocked.Increment(ref _degraded);
                await socket.EchoAsync("degraded"u8.ToArray(), WebSocketMessageType.Text, stop);
                await Task.Delay(1500, stop);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, stop);
            }

            await Task.Delay(200, stop);
        }

        private async Task Loop(Func<Task> step)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await step();
                }
                catch (Exception exception) when (!stop.IsCancellationRequested)
                {
                    // A session the gateway ended under the client is what some of these are for; anything else
                    // shows in the summary, and in the queries that then find no data.
                    if (exception is not (WebSocketException or IOException))
                    {
                        Interlocked.Increment(ref _errors);
                        _lastError = $"{exception.GetType().Name}: {exception.Message}";
                    }

                    await Task.Delay(100, CancellationToken.None);
                }
                catch (Exception)
                {
                    // Stopped: the test is over.
                }
            }
        }
    }
}
