using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Gateway.IntegrationTests.Fleet;

/// <summary>
/// Issue 16, item 2, at a small size: HAProxy (the cloud load balancer's stand-in, test/Benchmarks/fleet) in front of
/// three built gateways, two backends, and the load generator holding 300 reconnecting echo sessions; then a
/// rolling restart as Kubernetes does it (SIGTERM one gateway, wait for it to exit, start it again, wait until the
/// balancer sends it sessions, next). The 15,000-session run is <c>test/Benchmarks/fleet/run.sh</c>.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed partial class RollingRestartTests(ITestOutputHelper output)
{
    private const int Sessions = 300;
    private const int MessagesPerSecond = 300;
    private static readonly TimeSpan Delay = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Below <see cref="Delay"/> with its fall of 2: the balancer has stopped sending new sessions to a
    /// draining gateway before it starts closing the old ones.</summary>
    private static readonly TimeSpan CheckInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Long enough for three restarts (each the delay and the window, then ~2 s to exit, start and be seen ready:
    /// 24 s into the load on a quiet machine) with 16 s to spare; the load must outlast the restart, or what it
    /// measured would not cover it (checked below).
    /// </summary>
    private static readonly TimeSpan LoadDuration = TimeSpan.FromSeconds(40);

    [RequiresToolFact("haproxy")]
    public async Task RollingRestart_ReconnectingSessions_AllClosedWithACode_NoMessageLost_AllBackWithinTheWindow()
    {
        await using var backend1 = await EchoBackend.StartAsync();
        await using var backend2 = await EchoBackend.StartAsync();
        await using var fleet = await GatewayFleet.StartAsync(3, new Dictionary<string, string>
        {
            // Every session reaches the gateways from HAProxy's one address.
            ["Gateway__Admission__PerClient__PermitsPerSecond"] = "0",
            ["Gateway__Admission__PerClient__MaxSessions"] = "0",
            ["Gateway__Drain__Delay"] = Delay.ToString("c"),
            ["Gateway__Drain__Window"] = Window.ToString("c"),
            ["Gateway__Drain__BatchInterval"] = "00:00:00.100",
            ["Gateway__Heartbeat__CloseTimeout"] = CloseTimeout.ToString("c"),
            ["ReverseProxy__Routes__echo__ClusterId"] = "echo",
            ["ReverseProxy__Routes__echo__Match__Path"] = "/echo/{**rest}",
            ["ReverseProxy__Clusters__echo__Destinations__d1__Address"] = backend1.Address,
            ["ReverseProxy__Clusters__echo__Destinations__d2__Address"] = backend2.Address,
        });
        await using var haproxy = await HaproxyProcess.StartAsync(fleet.Members, CheckInterval);
        foreach (var (name, _, _) in fleet.Members)
        {
            await haproxy.WaitUntilUpAsync(name, TimeSpan.FromSeconds(30));
        }

        var json = Path.Combine(Path.GetTempPath(), $"fleet-{Guid.NewGuid():N}.json");
        var clock = Stopwatch.StartNew();
        await using var load = ExternalProcess.Start("dotnet",
        [
            Paths.LoadTestDll, "echo", "--url", haproxy.Ws("/echo/fleet").ToString(), "--sessions", Sessions.ToString(CultureInfo.InvariantCulture),
            "--rate", MessagesPerSecond.ToString(CultureInfo.InvariantCulture), "--size", "32", "--reconnect",
            "--duration", LoadDuration.TotalSeconds.ToString(CultureInfo.InvariantCulture), "--json", json,
        ]);
        await Eventually.EqualAsync(Sessions, fleet.ActiveSessionsAsync, TimeSpan.FromSeconds(30));

        // The rolling restart. From the last gateway's exit the sessions it closed are counted back in while it
        // starts again: the bound is on the sessions, not on the restart.
        var stopped = new List<ExternalProcess>();
        var lastSigterm = TimeSpan.Zero;
        var allBackBound = Delay + Window + TimeSpan.FromSeconds(10);
        Task<TimeSpan>? allOpen = null;
        for (var i = 0; i < fleet.Members.Count; i++)
        {
            lastSigterm = clock.Elapsed;
            stopped.Add(await fleet.StopAsync(i, Delay + Window + CloseTimeout + TimeSpan.FromSeconds(20)));
            if (i == fleet.Members.Count - 1)
            {
                allOpen = FirstAllOpenAsync(fleet, clock, lastSigterm + allBackBound + TimeSpan.FromSeconds(10));
            }

            await fleet.StartAsync(i);
            await haproxy.WaitUntilUpAsync(fleet.Members[i].Name, TimeSpan.FromSeconds(30));
        }

        var restartEnded = clock.Elapsed;
        var allBack = await allOpen! - lastSigterm;

        var exitCode = await load.WaitForExitAsync(LoadDuration + TimeSpan.FromSeconds(60));
        output.WriteLine(load.StandardOutput);
        var text = File.Exists(json) ? await File.ReadAllTextAsync(json) : "";
        File.Delete(json);
        Assert.True(exitCode == 0 && text.Length > 0, $"load generator exit code {exitCode}\n{load.StandardError}");
        using var result = JsonDocument.Parse(text);
        var root = result.RootElement;
        var closedByServer = Counts(root.GetProperty("sessions").GetProperty("closedByServer"));
        var byCause = Counts(root.GetProperty("reconnects").GetProperty("byCause"));
        var messages = root.GetProperty("messages");
        var (lost, lostInClose, duplicated) = (messages.GetProperty("lost").GetInt64(), messages.GetProperty("lostInClose").GetInt64(), messages.GetProperty("duplicated").GetInt64());
        var drains = stopped.Select(process => DrainCompletedRegex().Match(process.StandardOutput)).ToArray();
        output.WriteLine($"rolling restart: {restartEnded.TotalSeconds:F1} s into the load; all {Sessions} back {allBack.TotalSeconds:F1} s after the last SIGTERM; "
            + $"closed by the server {Format(closedByServer)}; reconnects {Format(byCause)}; messages {messages.GetProperty("sent").GetInt64()} sent, "
            + $"{lost} lost, {lostInClose} lost in a close, {duplicated} duplicated; drains: {string.Join("; ", drains.Select(drain => drain.Value))}");

        Assert.True(restartEnded < LoadDuration, $"the rolling restart took until {restartEnded.TotalSeconds:F1} s, past the load's {LoadDuration.TotalSeconds} s: it did not cover the restart");
        // The goals: no session ended without a close code; nothing lost inside a connection; every session back
        // within the drain window and 10 s of the last restart.
        Assert.True(closedByServer.GetValueOrDefault("none") == 0, $"{closedByServer.GetValueOrDefault("none")} sessions ended without a close code; closed by the server: {Format(closedByServer)}");
        Assert.Equal(0, byCause.GetValueOrDefault("dropped"));
        Assert.Equal(0, lost);
        Assert.Equal(0, duplicated);
        // RFC 6455 lets a closing endpoint drop what is in flight: at most the messages of the connections that
        // ended (one per session-second here, each echoed within milliseconds).
        Assert.InRange(lostInClose, 0, closedByServer.Values.Sum());
        Assert.True(allBack <= allBackBound, $"all {Sessions} open again {allBack.TotalSeconds:F1} s after the last SIGTERM, more than {allBackBound.TotalSeconds} s");
        // Every gateway drained its share with 1001 and exited 0: the restart happened, and gently.
        Assert.True(byCause.GetValueOrDefault("close_1001") > 0, $"no reconnect after a 1001: {Format(byCause)}");
        Assert.All(drains, drain => Assert.True(drain.Success && int.Parse(drain.Groups["told"].Value, CultureInfo.InvariantCulture) > 0 && drain.Groups["aborted"].Value == "0", $"drain: '{drain.Value}'"));
        Assert.All(stopped, process => Assert.Equal(0, process.ExitCode));
        Assert.Equal(Sessions, root.GetProperty("sessions").GetProperty("openAtEnd").GetInt64());
    }

    /// <summary>When the gateways first hold every session again, or <see cref="TimeSpan.MaxValue"/> if not by <paramref name="deadline"/>.</summary>
    private static async Task<TimeSpan> FirstAllOpenAsync(GatewayFleet fleet, Stopwatch clock, TimeSpan deadline)
    {
        while (clock.Elapsed < deadline)
        {
            if (await fleet.ActiveSessionsAsync() == Sessions)
            {
                return clock.Elapsed;
            }

            await Task.Delay(100);
        }

        return TimeSpan.MaxValue;
    }

    private static Dictionary<string, long> Counts(JsonElement element) => element.EnumerateObject().ToDictionary(property => property.Name, property => property.Value.GetInt64());

    private static string Format(Dictionary<string, long> counts) => counts.Count == 0 ? "none" : string.Join(", ", counts.Select(pair => $"{pair.Key} {pair.Value}"));

    [GeneratedRegex(@"Drain completed in [0-9.]+ s: (?<told>\d+) sessions told to go away, (?<aborted>\d+) aborted")]
    private static partial Regex DrainCompletedRegex();
}
