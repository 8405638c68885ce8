using System.Text.RegularExpressions;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Deploy;

/// <summary>
/// The Prometheus alert rules the Helm chart ships (<c>k8s/helm/gateway/files/gateway-alerts.rules.yaml</c>): valid
/// for promtool, their unit tests passing, every alert tested both ways, and every metric and label they read
/// documented in <c>docs/operations.md</c>, so renaming a metric in the code and the docs breaks this test until
/// the rules follow. The YAML is read with regular expressions: the files are ours and keep one layout.
/// </summary>
public sealed partial class AlertRulesTests
{
    private static readonly string[] ExpectedAlerts =
    [
        "GatewaySessionsNearCritical",
        "GatewayAdmissionCritical",
        "GatewayAdmissionRejecting",
        "GatewayBreakerOpen",
        "GatewayClusterUnavailable",
        "GatewayEvictionSpike",
        "GatewayDrainTooLong",
        "GatewayDrainAborted",
    ];

    private static readonly string FilesDirectory = Path.Combine(Paths.RepositoryRoot, "k8s", "helm", "gateway", "files");
    private static readonly string RulesPath = Path.Combine(FilesDirectory, "gateway-alerts.rules.yaml");
    private static readonly string TestsPath = Path.Combine(FilesDirectory, "tests", "gateway-alerts.test.yaml");
    private static readonly string OperationsPath = Path.Combine(Paths.RepositoryRoot, "docs", "operations.md");

    [RequiresToolFact("promtool")]
    public async Task CheckRules_RulesFile_IsValidWithEveryExpectedAlert()
    {
        var (exitCode, output, error) = await Promtool("check", "rules", RulesPath);

        Assert.True(exitCode == 0, $"promtool check rules (exit {exitCode}):\n{output}\n{error}");
        Assert.Contains($"SUCCESS: {ExpectedAlerts.Length} rules found", output, StringComparison.Ordinal);
        Assert.Equal(ExpectedAlerts.Order(), ReadAlerts().Select(alert => alert.Name).Order());
    }

    [RequiresToolFact("promtool")]
    public async Task TestRules_UnitTests_Pass()
    {
        var (exitCode, output, error) = await Promtool("test", "rules", TestsPath);

        Assert.True(exitCode == 0, $"promtool test rules (exit {exitCode}):\n{output}\n{error}");
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Fact]
    public void UnitTests_EveryAlert_HasAFiringAndASilentCase()
    {
        var alerts = ReadAlerts().Select(alert => alert.Name).ToHashSet(StringComparer.Ordinal);
        var cases = TestCase().Matches(File.ReadAllText(TestsPath))
            .Select(match => (Alert: match.Groups["alert"].Value, Silent: match.Groups["silent"].Success))
            .ToList();

        // promtool passes a silent case for a name no rule has: such a case would test nothing.
        Assert.All(cases, testCase => Assert.Contains(testCase.Alert, alerts));
        Assert.All(alerts, alert =>
        {
            Assert.True(cases.Contains((alert, false)), $"{alert}: no case where it fires (exp_alerts with labels).");
            Assert.True(cases.Contains((alert, true)), $"{alert}: no case where it stays silent (exp_alerts: []).");
        });
    }

    [Fact]
    public void Rules_ReadOnlyDocumentedMetricsAndLabels()
    {
        var documented = ReadDocumentedMetrics();
        var problems = new List<string>();

        foreach (var (alert, expr) in ReadAlerts())
        {
            var metrics = MetricNames(expr);
            if (metrics.Count == 0)
            {
                problems.Add($"{alert}: no metric found in `{expr}`");
            }

            foreach (var metric in metrics.Where(metric => Documented(documented, metric) is null))
            {
                problems.Add($"{alert}: {metric} is not in the Metrics table of docs/operations.md");
            }

            foreach (Match selector in Selector().Matches(expr))
            {
                if (Documented(documented, selector.Groups["metric"].Value) is not { } labels)
                {
                    continue;
                }

                foreach (Match matcher in Matcher().Matches(selector.Groups["matchers"].Value))
                {
                    var label = matcher.Groups["label"].Value;
                    if (!Regex.IsMatch(labels, $@"(^|[\s,]){Regex.Escape(label)}\b"))
                    {
                        problems.Add($"{alert}: {selector.Groups["metric"].Value} has no documented label {label}");
                    }

                    foreach (var value in matcher.Groups["value"].Value.Split('|').Where(value => !labels.Contains($"`{value}`", StringComparison.Ordinal)))
                    {
                        problems.Add($"{alert}: {selector.Groups["metric"].Value}{{{label}}}: `{value}` is not a documented value");
                    }
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    private static Task<(int ExitCode, string Output, string Error)> Promtool(params string[] arguments)
        => ExternalProcess.RunAsync(ExternalTool.Find("promtool")!, arguments, timeout: TimeSpan.FromSeconds(60), workingDirectory: FilesDirectory);

    /// <summary>Each <c>- alert:</c> of the rules file with its <c>expr</c>, inline or a block scalar.</summary>
    private static List<(string Name, string Expr)> ReadAlerts()
    {
        var lines = File.ReadAllLines(RulesPath);
        var alerts = new List<(string, string)>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (AlertLine().Match(lines[i]) is not { Success: true } alert)
            {
                continue;
            }

            var exprLine = Array.FindIndex(lines, i + 1, line => ExprLine().IsMatch(line));
            Assert.True(exprLine > i, $"{alert.Groups["name"].Value}: no expr");
            var expr = ExprLine().Match(lines[exprLine]);
            var text = expr.Groups["value"].Value;
            if (text is ">-" or ">" or "|" or "|-")
            {
                var indent = expr.Groups["indent"].Value.Length;
                text = string.Join(' ', lines.Skip(exprLine + 1)
                    .TakeWhile(line => line.Length - line.TrimStart().Length > indent)
                    .Select(line => line.Trim()));
            }

            alerts.Add((alert.Groups["name"].Value, text));
        }

        return alerts;
    }

    /// <summary>Metric name → its Labels cell, from the table under "## Metrics".</summary>
    private static Dictionary<string, string> ReadDocumentedMetrics()
    {
        var text = File.ReadAllText(OperationsPath);
        var section = text[text.IndexOf("\n## Metrics", StringComparison.Ordinal)..];
        var rows = MetricRow().Matches(section).ToDictionary(row => row.Groups["metric"].Value, row => row.Groups["labels"].Value.Trim(), StringComparer.Ordinal);
        Assert.True(rows.Count > 20, "The Metrics table of docs/operations.md was not found or changed its layout.");
        return rows;
    }

    private static string? Documented(Dictionary<string, string> documented, string metric)
        => documented.TryGetValue(metric, out var labels) ? labels
            : HistogramSeries().Match(metric) is { Success: true } series && documented.TryGetValue(series.Groups["histogram"].Value, out labels) ? labels
            : null;

    /// <summary>
    /// The metric names in a PromQL expression: what is left once strings, label matchers, range selectors and
    /// grouping clauses are taken out, minus functions (followed by a parenthesis), keywords and numbers.
    /// </summary>
    private static HashSet<string> MetricNames(string expr)
    {
        var stripped = Regex.Replace(expr, "\"[^\"]*\"|\\{[^}]*\\}|\\[[^\\]]*\\]", " ");
        stripped = Grouping().Replace(stripped, " ");
        return Identifier().Matches(stripped)
            .Select(match => match.Value)
            .Where(name => name is not ("and" or "or" or "unless" or "bool" or "offset" or "inf" or "nan" or "by" or "without"))
            .ToHashSet(StringComparer.Ordinal);
    }

    [GeneratedRegex(@"^\s*- alert:\s*(?<name>\w+)\s*$")]
    private static partial Regex AlertLine();

    [GeneratedRegex(@"^(?<indent>\s*)expr:\s*(?<value>.*?)\s*$")]
    private static partial Regex ExprLine();

    [GeneratedRegex(@"alertname:\s*(?<alert>\w+)\s*\n\s*exp_alerts:[ \t]*(?:(?<silent>\[\])|\n\s*- exp_labels:)")]
    private static partial Regex TestCase();

    [GeneratedRegex(@"^\| `(?<metric>[a-z_]+)` \| [a-z]* \|(?<labels>[^|]*)\|", RegexOptions.Multiline)]
    private static partial Regex MetricRow();

    [GeneratedRegex(@"^(?<histogram>\w+)_(bucket|sum|count)$")]
    private static partial Regex HistogramSeries();

    [GeneratedRegex(@"(?<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?<matchers>[^}]*)\}")]
    private static partial Regex Selector();

    [GeneratedRegex("(?<label>[a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)\\s*\"(?<value>[^\"]*)\"")]
    private static partial Regex Matcher();

    [GeneratedRegex(@"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex Grouping();

    [GeneratedRegex(@"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()")]
    private static partial Regex Identifier();
}
