using System.Globalization;
using System.Text.RegularExpressions;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>Samples of one Prometheus text scrape.</summary>
public sealed partial class MetricsSnapshot
{
    private readonly List<(string Name, Dictionary<string, string> Labels, double Value)> _samples = [];

    public string Text { get; private set; } = "";

    public static MetricsSnapshot Parse(string text)
    {
        var snapshot = new MetricsSnapshot { Text = text };
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var match = SampleRegex().Match(line);
            if (!match.Success)
            {
                throw new FormatException($"Not a Prometheus sample: {line}");
            }

            var labels = new Dictionary<string, string>();
            foreach (Match label in LabelRegex().Matches(match.Groups["labels"].Value))
            {
                labels[label.Groups["name"].Value] = label.Groups["value"].Value.Replace("\\\"", "\"").Replace("\\n", "\n").Replace("\\\\", "\\");
            }

            snapshot._samples.Add((match.Groups["name"].Value, labels, double.Parse(match.Groups["value"].Value.Replace("+Inf", "Infinity"), CultureInfo.InvariantCulture)));
        }

        return snapshot;
    }

    /// <summary>Sum of the samples named <paramref name="name"/> whose labels include all of <paramref name="labels"/>.</summary>
    public double Sum(string name, params (string Name, string Value)[] labels)
        => _samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value)).Sum(s => s.Value);

    public bool Has(string name) => _samples.Any(s => s.Name == name);

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)$""")]
    private static partial Regex SampleRegex();

    [GeneratedRegex("""(?<name>[a-zA-Z_][a-zA-Z0-9_]*)="(?<value>(\\.|[^"\\])*)",?""")]
    private static partial Regex LabelRegex();
}
