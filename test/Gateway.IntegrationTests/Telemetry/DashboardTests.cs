using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Gateway.IntegrationTests.Telemetry;

/// <summary>
/// Acceptance 4, the structure of <c>grafana/gateway-dashboard.json</c> (no tools needed): it imports into any
/// Grafana with any Prometheus data source, because every query goes through the <c>datasource</c> variable that
/// the import fills from <c>DS_PROMETHEUS</c>; a panel that names a data source directly would break on every
/// Grafana but the one it was exported from. Whether the queries return data is <see cref="DashboardQueryTests"/>.
/// </summary>
public sealed partial class DashboardTests
{
    private const string DatasourceUid = "${datasource}";

    // Grafana's own variables, filled in by Grafana at query time.
    private static readonly HashSet<string> BuiltInVariables = ["__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"];

    [Fact]
    public void Dashboard_IsValidJson_WithAPrometheusInput_AndItsIdentity()
    {
        var text = GrafanaDashboard.ReadText();
        using (var document = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow }))
        {
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        }

        var dashboard = GrafanaDashboard.Load();
        var root = dashboard.Root;
        var input = Assert.Single(root["__inputs"]!.AsArray(), node => (string?)node!["name"] == "DS_PROMETHEUS")!;
        Assert.Equal("datasource", (string?)input["type"]);
        Assert.Equal("prometheus", (string?)input["pluginId"]);
        Assert.Contains(root["__requires"]!.AsArray(), node => (string?)node!["type"] == "datasource" && (string?)node["id"] == "prometheus");
        Assert.Contains(root["__requires"]!.AsArray(), node => (string?)node!["type"] == "grafana");

        // Every panel type used is declared, so the import warns about a missing plugin instead of showing a broken panel.
        var required = root["__requires"]!.AsArray().Where(node => (string?)node!["type"] == "panel").Select(node => (string?)node!["id"]).ToHashSet();
        Assert.All(dashboard.QueryPanels.Select(panel => panel.Type).Distinct(), type => Assert.Contains(type, required));

        Assert.Equal("ws-gateway", (string?)root["uid"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)root["title"]));
        Assert.InRange((int)root["schemaVersion"]!, 36, 41);
        // An exported id would overwrite whichever dashboard has that id in the importing Grafana.
        Assert.True(root["id"] is null, "the dashboard must not carry a database id");

        // The input is consumed: on import Grafana replaces ${DS_PROMETHEUS} with the chosen data source.
        Assert.Equal("${DS_PROMETHEUS}", (string?)dashboard.Variable("datasource")!["current"]!["value"]);
    }

    [Fact]
    public void EveryPanelAndEveryTarget_QueriesThroughTheDatasourceVariable_WithAnExpression()
    {
        var dashboard = GrafanaDashboard.Load();
        var problems = new List<string>();
        Assert.NotEmpty(dashboard.QueryPanels);
        foreach (var panel in dashboard.QueryPanels)
        {
            if (!IsDatasourceVariable(panel.Node["datasource"]))
            {
                problems.Add($"{panel}: datasource {panel.Node["datasource"]?.ToJsonString() ?? "missing"}");
            }

            if (panel.Targets.Count == 0)
            {
                problems.Add($"{panel}: no targets");
            }

            foreach (var target in panel.Targets)
            {
                if (!IsDatasourceVariable(target.Node["datasource"]))
                {
                    problems.Add($"{panel} target {target.RefId}: datasource {target.Node["datasource"]?.ToJsonString() ?? "missing"}");
                }

                if (string.IsNullOrWhiteSpace(target.Expr))
                {
                    problems.Add($"{panel} target {target.RefId}: empty expr");
                }
            }

            if (panel.Targets.Select(target => target.RefId).Distinct().Count() != panel.Targets.Count || panel.Targets.Any(target => target.RefId.Length == 0))
            {
                problems.Add($"{panel}: refIds missing or repeated");
            }
        }

        foreach (var variable in dashboard.Variables.Where(variable => (string?)variable["type"] == "query"))
        {
            if (!IsDatasourceVariable(variable["datasource"]))
            {
                problems.Add($"variable {variable["name"]}: datasource {variable["datasource"]?.ToJsonString() ?? "missing"}");
            }
        }

        Assert.True(problems.Count == 0, "Not queried through ${datasource}:\n" + string.Join('\n', problems));
    }

    [Fact]
    public void PanelIds_AreUniqueAndPresent_AndNoTwoPanelsOverlap()
    {
        var dashboard = GrafanaDashboard.Load();

        var missing = dashboard.Panels.Where(panel => panel.Id is null).ToArray();
        Assert.True(missing.Length == 0, "Panels without an id: " + string.Join(", ", missing.Select(panel => panel.ToString())));
        var repeated = dashboard.Panels.GroupBy(panel => panel.Id).Where(group => group.Count() > 1).ToArray();
        Assert.True(repeated.Length == 0, "Repeated panel ids: " + string.Join("; ", repeated.Select(group => $"{group.Key}: {string.Join(", ", group.Select(panel => panel.Title))}")));

        // Grafana lays out overlapping panels by pushing one down, silently: a sign of a hand edit gone wrong.
        var boxes = dashboard.Panels.Where(panel => panel.Row is null).Select(panel => (panel, grid: panel.Node["gridPos"]!)).ToArray();
        var overlaps = new List<string>();
        for (var i = 0; i < boxes.Length; i++)
        {
            for (var j = i + 1; j < boxes.Length; j++)
            {
                if (Overlap(boxes[i].grid, boxes[j].grid))
                {
                    overlaps.Add($"{boxes[i].panel} and {boxes[j].panel}");
                }
            }
        }

        Assert.True(overlaps.Count == 0, "Overlapping panels: " + string.Join("; ", overlaps));
    }

    [Fact]
    public void Variables_DatasourceInstanceRouteCluster_Exist_AndEveryReferencedVariableIsDefined()
    {
        var dashboard = GrafanaDashboard.Load();

        var datasource = dashboard.Variable("datasource");
        Assert.NotNull(datasource);
        Assert.Equal("datasource", (string?)datasource["type"]);
        Assert.Equal("prometheus", (string?)datasource["query"]);

        foreach (var name in new[] { "instance", "route", "cluster" })
        {
            var variable = dashboard.Variable(name);
            Assert.True(variable is not null, $"variable {name} missing");
            Assert.Equal("query", (string?)variable["type"]);
            Assert.True((bool?)variable["multi"] == true && (bool?)variable["includeAll"] == true, $"variable {name} must be multi-value with All");
            Assert.Matches(GrafanaDashboard.LabelValues(), GrafanaDashboard.VariableQuery(variable) ?? "");
            Assert.EndsWith($", {name})", GrafanaDashboard.VariableQuery(variable), StringComparison.Ordinal);
        }

        var defined = dashboard.Variables.Select(variable => (string)variable["name"]!).ToHashSet();
        var queries = dashboard.QueryPanels.SelectMany(panel => panel.Targets.Select(target => ($"{panel} {target.RefId}", target.Expr)))
            .Concat(dashboard.Variables.Select(variable => ($"variable {variable["name"]}", GrafanaDashboard.VariableQuery(variable) ?? "")));
        var undefined = queries
            .SelectMany(query => GrafanaDashboard.VariableReference().Matches(query.Item2).Select(match => (query.Item1, name: match.Groups["braced"].Success ? match.Groups["braced"].Value : match.Groups["plain"].Value)))
            .Where(reference => !defined.Contains(reference.name) && !BuiltInVariables.Contains(reference.name))
            .ToArray();
        Assert.True(undefined.Length == 0, "Undefined variables: " + string.Join("; ", undefined.Select(reference => $"{reference.Item1}: ${reference.name}")));
    }

    [Fact]
    public void RateWindows_FollowTheScrapeInterval_NeverAFixedRange()
    {
        // A fixed [1m] shows nothing with a 1 m scrape interval and hides spikes with a 5 s one; $__rate_interval
        // is Grafana's answer to both.
        var dashboard = GrafanaDashboard.Load();
        var fixedRanges = dashboard.QueryPanels
            .SelectMany(panel => panel.Targets.Select(target => (panel, target)))
            .Where(pair => FixedRange().IsMatch(pair.target.Expr))
            .Select(pair => $"{pair.panel} {pair.target.RefId}: {pair.target.Expr}")
            .ToArray();
        Assert.True(fixedRanges.Length == 0, "Fixed range windows:\n" + string.Join('\n', fixedRanges));
    }

    private static bool IsDatasourceVariable(JsonNode? datasource)
        => datasource is JsonObject value && (string?)value["type"] == "prometheus" && (string?)value["uid"] == DatasourceUid;

    private static bool Overlap(JsonNode a, JsonNode b)
    {
        static (int X, int Y, int W, int H) Box(JsonNode grid) => ((int)grid["x"]!, (int)grid["y"]!, (int)grid["w"]!, (int)grid["h"]!);
        var (ax, ay, aw, ah) = Box(a);
        var (bx, by, bw, bh) = Box(b);
        return ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah;
    }

    [GeneratedRegex(@"\[\d+(ms|s|m|h|d)\]")]
    private static partial Regex FixedRange();
}
