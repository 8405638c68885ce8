using System.Text;

namespace Gateway.Telemetry;

/// <summary>Prometheus metric family kinds the exporter writes.</summary>
internal enum PrometheusType
{
    Counter,
    Gauge,
    Histogram,
}

/// <summary>
/// OpenTelemetry instrument names and units to Prometheus names, after the OpenTelemetry "Prometheus and
/// OpenMetrics compatibility" rules: invalid characters become <c>_</c>, the unit is appended in words
/// (<c>s</c> → <c>_seconds</c>, <c>By</c> → <c>_bytes</c>, <c>{session}</c> → nothing), monotonic sums get
/// <c>_total</c>. One rule of ours on top: a gauge whose name would end in a suffix Prometheus reserves for
/// counters and histograms (<c>dotnet.assembly.count</c>) gets <c>_value</c>, so <c>promtool check metrics</c>
/// stays silent.
/// </summary>
internal static class PrometheusNames
{
    private static readonly string[] ReservedSuffixes = ["_total", "_count", "_sum", "_bucket", "_created"];

    public static string MetricName(string instrumentName, string? unit, PrometheusType type)
    {
        var name = Sanitize(instrumentName, allowColon: true);
        var unitWords = UnitSuffix(unit, type);
        if (type == PrometheusType.Counter && name.EndsWith("_total", StringComparison.Ordinal))
        {
            name = name[..^"_total".Length];
        }

        if (unitWords.Length > 0 && !name.EndsWith("_" + unitWords, StringComparison.Ordinal))
        {
            name = name + "_" + unitWords;
        }

        if (type == PrometheusType.Counter)
        {
            return name + "_total";
        }

        foreach (var suffix in ReservedSuffixes)
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
            {
                return name + "_value";
            }
        }

        return name;
    }

    /// <summary>Label names: invalid characters become <c>_</c>; runs of <c>_</c> collapse, so no name can take Prometheus' reserved <c>__</c> prefix.</summary>
    public static string LabelName(string key) => Sanitize(key, allowColon: false);

    /// <summary>OpenTelemetry unit (UCUM) to the words appended to a Prometheus name.</summary>
    public static string UnitSuffix(string? unit, PrometheusType type)
    {
        if (string.IsNullOrEmpty(unit))
        {
            return "";
        }

        // Annotations in braces ("{session}", "{request}") are counts of things: no unit.
        var braces = unit.IndexOf('{', StringComparison.Ordinal);
        if (braces >= 0)
        {
            unit = unit[..braces];
            if (unit.Length == 0)
            {
                return "";
            }
        }

        if (unit == "1")
        {
            return type == PrometheusType.Gauge ? "ratio" : "";
        }

        var slash = unit.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0)
        {
            var per = unit[(slash + 1)..];
            return Sanitize(Words(unit[..slash]), allowColon: false) + "_per_" + Sanitize(PerWords(per), allowColon: false);
        }

        return Sanitize(Words(unit), allowColon: false);
    }

    private static string Words(string unit) => unit switch
    {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => unit,
    };

    private static string PerWords(string unit) => unit switch
    {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => Words(unit),
    };

    private static string Sanitize(string value, bool allowColon)
    {
        var builder = new StringBuilder(value.Length + 1);
        var lastUnderscore = false;
        foreach (var c in value)
        {
            var valid = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' || (allowColon && c == ':');
            var next = valid ? c : '_';
            if (next == '_' && lastUnderscore)
            {
                continue;
            }

            builder.Append(next);
            lastUnderscore = next == '_';
        }

        if (builder.Length == 0 || builder[0] is >= '0' and <= '9')
        {
            builder.Insert(0, '_');
        }

        return builder.ToString();
    }
}
