using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Telemetry;

/// <summary>
/// The Grafana dashboard in <c>grafana/</c>, read as the JSON Grafana imports, with rows flattened: both layouts
/// Grafana writes (an expanded row's panels follow it at the top level, a collapsed row carries them inside) must
/// be checked alike, or a panel moved into a collapsed row would escape every test.
/// </summary>
internal sealed partial class GrafanaDashboard
{
    public const string RelativePath = "grafana/gateway-dashboard.json";

    private GrafanaDashboard(JsonObject root)
    {
        Root = root;
        var panels = new List<DashboardPanel>();
        foreach (var node in root["panels"]?.AsArray() ?? [])
        {
            var panel = DashboardPanel.From(node!.AsObject(), row: null);
            panels.Add(panel);
            foreach (var nested in node["panels"]?.AsArray() ?? [])
            {
                panels.Add(DashboardPanel.From(nested!.AsObject(), row: panel.Title));
            }
        }

        Panels = panels;
        Variables = (root["templating"]?["list"]?.AsArray() ?? []).Select(node => node!.AsObject()).ToArray();
    }

    public JsonObject Root { get; }

    /// <summary>Every panel, rows included, in file order (a collapsed row's panels right after it).</summary>
    public IReadOnlyList<DashboardPanel> Panels { get; }

    /// <summary>Panels that query data: everything but rows.</summary>
    public IEnumerable<DashboardPanel> QueryPanels => Panels.Where(panel => panel.Type != "row");

    public IReadOnlyList<JsonObject> Variables { get; }

    public static string FullPath => Path.Combine(Paths.RepositoryRoot, RelativePath);

    public static string ReadText() => File.ReadAllText(FullPath);

    /// <summary>Parses the file; throws (with the position) when it is not valid JSON or not an object.</summary>
    public static GrafanaDashboard Load() => new(JsonNode.Parse(ReadText())!.AsObject());

    public JsonObject? Variable(string name) => Variables.FirstOrDefault(variable => (string?)variable["name"] == name);

    /// <summary>
    /// A query variable's PromQL (<c>label_values(...)</c>): Grafana 10+ writes it as <c>query.query</c>,
    /// older exports as a plain string.
    /// </summary>
    public static string? VariableQuery(JsonObject variable)
        => variable["query"] switch
        {
            JsonValue value => (string?)value,
            JsonObject query => (string?)query["query"],
            _ => null,
        };

    /// <summary>Grafana's <c>label_values(selector, label)</c> variable query.</summary>
    [GeneratedRegex(@"^label_values\((?<selector>.+),\s*(?<label>\w+)\)$")]
    public static partial Regex LabelValues();

    /// <summary>A variable reference in a query: <c>$name</c>, <c>${name}</c> or <c>${name:format}</c>.</summary>
    [GeneratedRegex(@"\$\{(?<braced>\w+)(?::\w+)?\}|\$(?<plain>\w+)")]
    public static partial Regex VariableReference();
}

/// <summary>One panel of the dashboard and its queries.</summary>
internal sealed record DashboardPanel(int? Id, string Title, string Type, string? Row, JsonObject Node, IReadOnlyList<DashboardTarget> Targets)
{
    public static DashboardPanel From(JsonObject node, string? row)
    {
        var id = node["id"] is JsonValue value && value.TryGetValue<int>(out var number) ? number : (int?)null;
        var title = (string?)node["title"] ?? "";
        var targets = (node["targets"]?.AsArray() ?? [])
            .Select(target => target!.AsObject())
            .Select(target => new DashboardTarget((string?)target["refId"] ?? "", (string?)target["expr"] ?? "", target))
            .ToArray();
        return new DashboardPanel(id, title, (string?)node["type"] ?? "", row, node, targets);
    }

    public override string ToString() => $"'{Title}' (id {Id}, {Type}{(Row is null ? "" : ", in row " + Row)})";
}

/// <summary>One query of a panel.</summary>
internal sealed record DashboardTarget(string RefId, string Expr, JsonObject Node);
