using System.Globalization;
using System.Runtime.CompilerServices;

namespace Gateway.Telemetry;

/// <summary>
/// The label values of one measurement, as a key that needs no allocation to build or look up: up to eight
/// values are held inline (the relay's instruments have two, ASP.NET Core's and Kestrel's at most seven), more in
/// an array.
/// </summary>
internal readonly struct LabelValues : IEquatable<LabelValues>
{
    public const int Inline = 8;

    private readonly Values _inline;
    private readonly string?[]? _more;
    private readonly int _hash;

    public LabelValues(ReadOnlySpan<KeyValuePair<string, object?>> tags, int[] order)
    {
        Count = order.Length;
        Span<string?> values = Count > Inline ? (_more = new string?[Count]) : _inline;
        var hash = new HashCode();
        for (var i = 0; i < Count; i++)
        {
            var value = ValueOf(tags[order[i]].Value);
            values[i] = value;
            hash.Add(value);
        }

        _hash = hash.ToHashCode();
    }

    public int Count { get; }

    public string this[int index] => (_more is not null ? _more[index] : _inline[index])!;

    public string[] ToArray()
    {
        var values = new string[Count];
        for (var i = 0; i < Count; i++)
        {
            values[i] = this[i];
        }

        return values;
    }

    public bool Equals(LabelValues other)
    {
        if (_hash != other._hash || Count != other.Count)
        {
            return false;
        }

        for (var i = 0; i < Count; i++)
        {
            if (!string.Equals(this[i], other[i], StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    public override bool Equals(object? obj) => obj is LabelValues other && Equals(other);

    public override int GetHashCode() => _hash;

    /// <summary>The text of small integers (HTTP status codes, ports below 1024), made once each.</summary>
    private static readonly string?[] SmallIntegers = new string?[1024];

    /// <summary>
    /// Strings as they are (the hot path's tags all are); small integers from <see cref="SmallIntegers"/>, so a
    /// request's status code costs no string; anything else in invariant culture.
    /// </summary>
    private static string ValueOf(object? value) => value switch
    {
        string text => text,
        int number when (uint)number < (uint)SmallIntegers.Length => SmallIntegers[number] ??= number.ToString(CultureInfo.InvariantCulture),
        null => "",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    [InlineArray(Inline)]
    private struct Values
    {
        private string? _first;
    }
}
