using System.Diagnostics;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Net;
using Gateway.LoadTest.Reporting;
using Gateway.LoadTest.Scenarios;
using Gateway.LoadTest.Workers;
using Spectre.Console;

namespace Gateway.LoadTest;

/// <summary>Runs a parsed command: in this process, or split over workers; then reports.</summary>
internal static class LoadTestRunner
{
    /// <summary>Beyond the run's own bound: time to connect, drain, close and write the result.</summary>
    private static readonly TimeSpan WorkerSlack = TimeSpan.FromSeconds(60);

    public static async Task<int> RunAsync(LoadTestOptions options, IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        LoadTestResult result;
        var failedWorkers = 0;
        if (options.IsWorker)
        {
            options = options.ShareFor(options.WorkerIndex!.Value, options.WorkerCount);
            result = await RunHereAsync(options, worker: true, cancellationToken);
            await File.WriteAllTextAsync(options.ResultFile!, result.ToJson(), CancellationToken.None);
            return 0;
        }

        if (options.Workers > 1)
        {
            var launcher = new WorkerLauncher();
            var run = launcher.RunAsync(options, args, Bound(options) + WorkerSlack, cancellationToken);
            await ProgressDisplay.RunAsync(launcher.Snapshot, run, LatencyName(options), worker: false);
            (var merged, failedWorkers) = await run;
            foreach (var error in launcher.Errors)
            {
                await Console.Error.WriteLineAsync(error);
            }

            if (merged is null)
            {
                await Console.Error.WriteLineAsync("No worker produced a result.");
                return 1;
            }

            result = merged;
        }
        else
        {
            result = await RunHereAsync(options, worker: false, cancellationToken);
        }

        // Redirected output (a script, a CI log) gets the tables without colour codes.
        var console = Console.IsOutputRedirected
            ? AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors })
            : AnsiConsole.Console;
        ResultTable.Write(result, console);
        if (options.JsonFile is { } json)
        {
            await File.WriteAllTextAsync(json, result.ToJson(), CancellationToken.None);
        }

        return failedWorkers == 0 ? 0 : 1;
    }

    private static async Task<LoadTestResult> RunHereAsync(LoadTestOptions options, bool worker, CancellationToken cancellationToken)
    {
        var metrics = new RunMetrics();
        using var connector = new WebSocketConnector(options);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // echo's --duration is its sending time, bounded by the scheduler; hold and storm stop at theirs.
        if (options.Command != LoadTestCommand.Echo)
        {
            bound.CancelAfter(Bound(options));
        }

        var started = Stopwatch.GetTimestamp();
        var work = options.Command switch
        {
            LoadTestCommand.Hold => HoldScenario.RunAsync(options, connector, metrics, bound.Token),
            LoadTestCommand.Echo => EchoScenario.RunAsync(options, connector, metrics, bound.Token),
            _ => StormScenario.RunAsync(options, connector, metrics, bound.Token),
        };
        var series = SampleOpenAsync(metrics, work);
        await ProgressDisplay.RunAsync(() => ProgressSnapshot.Take(metrics), work, LatencyName(options), worker);
        var messagingTime = await work;
        await series;
        return LoadTestResult.From(metrics, options, Stopwatch.GetElapsedTime(started), messagingTime);
    }

    /// <summary>The sessions open at each whole second of the run, until <paramref name="work"/> ends.</summary>
    private static async Task SampleOpenAsync(RunMetrics metrics, Task work)
    {
        var started = Stopwatch.GetTimestamp();
        for (var second = 1; !work.IsCompleted; second++)
        {
            await Pacing.WaitUntilAsync(started + (second * Stopwatch.Frequency), CancellationToken.None);
            if (!work.IsCompleted)
            {
                metrics.OpenPerSecond.Add(metrics.Open);
            }
        }
    }

    private static TimeSpan Bound(LoadTestOptions options) => options.Command == LoadTestCommand.Echo
        ? options.Duration!.Value + (options.ConnectTimeout * 2)
        : options.Duration!.Value;

    private static string LatencyName(LoadTestOptions options) => options.Command == LoadTestCommand.Echo ? "round trip" : "connect";
}
