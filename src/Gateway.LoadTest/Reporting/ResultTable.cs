using System.Globalization;
using Spectre.Console;

namespace Gateway.LoadTest.Reporting;

/// <summary>The human report at the end of a run.</summary>
internal static class ResultTable
{
    public static void Write(LoadTestResult result, IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(console);
        var summary = new Table().Title(Markup.Escape($"{result.Command} {result.Url}{(result.Http2 ? " (HTTP/2)" : "")}, {result.Workers} worker(s), {N(result.ElapsedSeconds)} s"));
        summary.AddColumn("what");
        summary.AddColumn(new TableColumn("value").RightAligned());
        var sessions = result.Sessions;
        summary.AddRow(result.Command == "storm" ? "attempts" : "sessions requested", I(sessions.Requested));
        summary.AddRow("sessions opened", I(sessions.Opened));
        summary.AddRow("sessions failed", I(sessions.Failed));
        if (result.Command != "storm")
        {
            summary.AddRow("open at the end", I(sessions.OpenAtEnd));
        }

        foreach (var (code, count) in sessions.ClosedByServer)
        {
            summary.AddRow($"closed by the server, code {code}", I(count));
        }

        if (result.Messages is { } messages)
        {
            summary.AddRow("messages/s requested", N(messages.RequestedRate));
            summary.AddRow("messages/s achieved", N(messages.AchievedRate));
            summary.AddRow("messages sent / received", $"{I(messages.Sent)} / {I(messages.Received)}");
            if (messages.Lost is { } lost)
            {
                summary.AddRow("messages lost / lost in a close / duplicated", $"{I(lost)} / {I(messages.LostInClose ?? 0)} / {I(messages.Duplicated ?? 0)}");
            }
        }

        if (result.Storm is { } storm)
        {
            summary.AddRow("accepted", I(storm.Accepted));
            foreach (var (status, count) in storm.RejectedByStatus)
            {
                summary.AddRow($"rejected, HTTP {status}", I(count));
            }

            foreach (var (code, count) in storm.ClosedByCode)
            {
                summary.AddRow($"accepted then closed, code {code}", I(count));
            }

            var retry = storm.RetryAfterSeconds;
            summary.AddRow("Retry-After s (min / p50 / max)", retry.Count == 0 ? "-" : $"{I(retry.Min)} / {I(retry.P50)} / {I(retry.Max)}");
        }

        if (result.Reconnects is { } reconnects)
        {
            summary.AddRow("reconnects", I(reconnects.Count));
            foreach (var (cause, count) in reconnects.ByCause)
            {
                summary.AddRow($"reconnects after {cause}", I(count));
            }
        }

        foreach (var (cause, count) in result.Failures)
        {
            summary.AddRow($"failure: {cause}", I(count));
        }

        console.Write(summary);

        var latency = new Table().Title("latency, ms");
        foreach (var column in new[] { "", "count", "p50", "p90", "p99", "p99.9", "max", "mean" })
        {
            latency.AddColumn(new TableColumn(column).RightAligned());
        }

        AddLatency(latency, "connect", result.ConnectTimeMs);
        AddLatency(latency, "round trip", result.RoundTripMs);
        AddLatency(latency, "service time", result.ServiceTimeMs);
        AddLatency(latency, "time to reconnect", result.Reconnects?.TimeToReconnectMs);
        console.Write(latency);
    }

    private static void AddLatency(Table table, string name, LatencySummary? s)
    {
        if (s is null)
        {
            return;
        }

        table.AddRow(name, I(s.Count), N(s.P50), N(s.P90), N(s.P99), N(s.P999), N(s.Max), N(s.Mean));
    }

    private static string I(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string N(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
