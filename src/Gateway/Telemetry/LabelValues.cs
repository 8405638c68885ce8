namespace Gateway.Telemetry;

/// <summary>
/// The label values of one measurement, as a key that needs no allocation to build or look up: up to four
/// values are held inline (every instrument of the relay's hot path has two), more in an array.
/// </summary>
internal readonly struct LabelValues : IEquatable<LabelValues>
{
    public const int Inline = 4;

    private readonly string? _v0;
    private readonly string? _v1;
    private readonly string? _v2;
    private readonly string? _v3;
    private readonly string[]? _more;
    private readonly int _hash;

    public LabelValues(ReadOnlySpan<KeyValuePair<string, object?>> tags, int[] order)
    {
        Count = order.Length;
        var hash = new HashCode();
        if (Count > Inline)
        {
            _more = new string[Count];
            for (var i = 0; i < Count; i++)
            {
                _more[i] = ValueOf(tags[order[i]].Value);
                hash.Add(_more[i]);
            }
        }
        else
        {
            for (var i = 0; i < Count; i++)
            {
                var value = ValueOf(tags[order[i]].Value);
                hash.Add(value);
                switch (i)
                {
                    case 0: _v0 = value; break;
                    case 1: _v1 = value; break;
                    case 2: _v2 = value; break;
                    default: _v3 = value; break;
                }
            }
        }

        _hash = hash.ToHashCode();
    }

    public int Count { get; }

    public string this[int index] => (_more is not null ? _more[index] : index switch { 0 => _v0, 1 => _v1, 2 => _v2, _ => _v3 })!;

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

    /// <summary>Strings as they are (the hot path's tags all are); anything else in invariant culture.</summary>
    private static string ValueOf(object? value) => value switch
    {
        string text => text,
        null => "",
        IFormattable formattable => formattable.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
