using System.Diagnostics;
using System.Globalization;
using Gateway.LoadTest.Metrics;
using Spectre.Console;

namespace Gateway.LoadTest.Reporting;

/// <summary>What the progress display shows: totals so far and the main latency's p99 over the last interval.</summary>
internal readonly record struct ProgressSnapshot(long Open, long Opened, long Failed, long Sent, long Received, long IntervalP99Microseconds)
{
    public static ProgressSnapshot Take(RunMetrics metrics) =>
        new(metrics.Open, metrics.Opened, metrics.Failed, metrics.Sent, metrics.Received, metrics.TakeInterval().ValueAtPercentile(99));

    /// <summary>The line a worker writes to its stdout for the parent to add up.</summary>
    public string ToWorkerLine() => string.Create(CultureInfo.InvariantCulture, $"progress {Open} {Opened} {Failed} {Sent} {Received} {IntervalP99Microseconds}");

    public static bool TryParseWorkerLine(string? line, out ProgressSnapshot snapshot)
    {
        snapshot = default;
        var parts = line?.Split(' ');
        if (parts is not { Length: 7 } || parts[0] != "progress")
        {
            return false;
        }

        var values = new long[6];
        for (var i = 0; i < 6; i++)
        {
            if (!long.TryParse(parts[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i]))
            {
                return false;
            }
        }

        snapshot = new ProgressSnapshot(values[0], values[1], values[2], values[3], values[4], values[5]);
        return true;
    }

    /// <summary>Several workers' snapshots as one: counts add up, the p99 is the worst worker's.</summary>
    public static ProgressSnapshot Sum(IEnumerable<ProgressSnapshot> snapshots) => snapshots.Aggregate(
        default(ProgressSnapshot),
        (sum, s) => new ProgressSnapshot(sum.Open + s.Open, sum.Opened + s.Opened, sum.Failed + s.Failed, sum.Sent + s.Sent, sum.Received + s.Received, Math.Max(sum.IntervalP99Microseconds, s.IntervalP99Microseconds)));
}

/// <summary>
/// Shows progress while <c>work</c> runs: a live Spectre table on a terminal, a plain line every 5 s when the
/// output is redirected, and in a worker a machine-readable line every second for the parent.
/// </summary>
internal static class ProgressDisplay
{
    private static readonly TimeSpan LiveInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(5);

    public static async Task RunAsync(Func<ProgressSnapshot> snapshot, Task work, string latencyName, bool worker)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(work);
        if (worker)
        {
            while (!await FinishedWithinAsync(work, LiveInterval))
            {
                await Console.Out.WriteLineAsync(snapshot().ToWorkerLine());
                await Console.Out.FlushAsync();
            }

            return;
        }

        var started = Stopwatch.GetTimestamp();
        var last = (Time: started, Received: 0L);
        string[] Row(ProgressSnapshot s)
        {
            var now = Stopwatch.GetTimestamp();
            var seconds = Stopwatch.GetElapsedTime(last.Time, now).TotalSeconds;
            var rate = seconds > 0 ? (s.Received - last.Received) / seconds : 0;
            last = (now, s.Received);
            return
            [
                Stopwatch.GetElapsedTime(started, now).TotalSeconds.ToString("0", CultureInfo.InvariantCulture) + " s",
                s.Open.ToString(CultureInfo.InvariantCulture),
                s.Opened.ToString(CultureInfo.InvariantCulture),
                s.Failed.ToString(CultureInfo.InvariantCulture),
                rate.ToString("0", CultureInfo.InvariantCulture),
                (s.IntervalP99Microseconds / 1000.0).ToString("0.###", CultureInfo.InvariantCulture),
            ];
        }

        string[] headers = ["elapsed", "open", "opened", "failed", "msgs/s", $"{latencyName} p99 ms (interval)"];
        if (AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
        {
            var table = NewTable(headers);
            await AnsiConsole.Live(table).StartAsync(async context =>
            {
                while (!await FinishedWithinAsync(work, LiveInterval))
                {
                    var updated = NewTable(headers);
                    updated.AddRow(Row(snapshot()));
                    context.UpdateTarget(updated);
                }
            });
            return;
        }

        while (!await FinishedWithinAsync(work, PlainInterval))
        {
            var row = Row(snapshot());
            await Console.Out.WriteLineAsync(string.Join("  ", headers.Zip(row, (h, v) => $"{h}: {v}")));
        }
    }

    private static Table NewTable(string[] headers)
    {
        var table = new Table();
        foreach (var header in headers)
        {
            table.AddColumn(header);
        }

        return table;
    }

    private static async Task<bool> FinishedWithinAsync(Task work, TimeSpan interval) =>
        await Task.WhenAny(work, Task.Delay(interval)) == work;
}
