using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Prometheus;

namespace Gateway.Telemetry;

/// <summary>
/// One <see cref="Instrument"/> as prometheus-net metrics: the family its name and unit give
/// (<see cref="PrometheusNames"/>), one collector per set of tag keys it is measured with, and each label-value
/// combination's child cached, so a measurement of a known series is a lock-free dictionary read and an
/// interlocked add.
/// </summary>
internal sealed class BridgedInstrument
{
    /// <summary>The OpenTelemetry SDK's default explicit buckets, for histograms that give no advice: what /metrics had before.</summary>
    private static readonly double[] DefaultBuckets = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    private readonly IMetricFactory _factory;
    private readonly Operation _operation;
    private readonly double[]? _buckets;
    private readonly Lock _gate = new();
    private KeySet[] _keySets = [];

    private BridgedInstrument(Instrument instrument, IMetricFactory factory, PrometheusType type, Operation operation, double[]? buckets)
    {
        _factory = factory;
        _operation = operation;
        _buckets = buckets;
        Type = type;
        Name = PrometheusNames.MetricName(instrument.Name, instrument.Unit, type);
        Help = string.IsNullOrWhiteSpace(instrument.Description) ? instrument.Name : instrument.Description;
    }

    private enum Operation
    {
        CounterAdd,
        CounterSet,
        GaugeAdd,
        GaugeSet,
        Observe,
    }

    public string Name { get; }

    public string Help { get; }

    public PrometheusType Type { get; }

    /// <summary>
    /// The bridge for <paramref name="instrument"/>, or null for an instrument kind Prometheus has no form for, or one
    /// whose name <paramref name="claim"/> refuses (another instrument has it with another type).
    /// </summary>
    public static BridgedInstrument? Create(Instrument instrument, IMetricFactory factory, Func<string, PrometheusType, bool> claim)
    {
        var kind = instrument.GetType();
        var definition = kind.IsGenericType ? kind.GetGenericTypeDefinition() : kind;
        (PrometheusType Type, Operation Operation)? mapping =
            definition == typeof(Counter<>) ? (PrometheusType.Counter, Operation.CounterAdd)
            : definition == typeof(ObservableCounter<>) ? (PrometheusType.Counter, Operation.CounterSet)
            : definition == typeof(UpDownCounter<>) ? (PrometheusType.Gauge, Operation.GaugeAdd)
            : definition == typeof(ObservableUpDownCounter<>) || definition == typeof(ObservableGauge<>) || definition == typeof(Gauge<>) ? (PrometheusType.Gauge, Operation.GaugeSet)
            : definition == typeof(Histogram<>) ? (PrometheusType.Histogram, Operation.Observe)
            : null;
        if (mapping is not { } found)
        {
            return null;
        }

        var bridged = new BridgedInstrument(instrument, factory, found.Type, found.Operation, found.Type == PrometheusType.Histogram ? BucketsOf(instrument) : null);
        return claim(bridged.Name, bridged.Type) ? bridged : null;
    }

    public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if ((Find(tags) ?? Add(tags)).Child(tags) is not { } child)
        {
            return;
        }

        switch (_operation)
        {
            case Operation.CounterAdd:
                // A counter never goes down; a negative add is an instrument's bug, not a reason to throw into its caller.
                if (value > 0)
                {
                    Unsafe.As<Counter.Child>(child).Inc(value);
                }

                break;
            case Operation.CounterSet:
                Unsafe.As<Counter.Child>(child).IncTo(value);
                break;
            case Operation.GaugeAdd:
                Unsafe.As<Gauge.Child>(child).Inc(value);
                break;
            case Operation.GaugeSet:
                Unsafe.As<Gauge.Child>(child).Set(value);
                break;
            default:
                Unsafe.As<Histogram.Child>(child).Observe(value);
                break;
        }
    }

    private KeySet? Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var keySet in Volatile.Read(ref _keySets))
        {
            if (keySet.Matches(tags))
            {
                return keySet;
            }
        }

        return null;
    }

    /// <summary>
    /// First measurement with these tag keys: a collector for them (rare). Made outside the lock, and whatever
    /// prometheus-net refuses (a label it reserves, such as <c>le</c> on a histogram; buckets it will not take) leaves
    /// these series out instead of throwing into the instrument's caller.
    /// </summary>
    private KeySet Add(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var keys = new string[tags.Length];
        var labels = new string[tags.Length];
        var order = new int[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            keys[i] = tags[i].Key;
            labels[i] = PrometheusNames.LabelName(tags[i].Key);
            order[i] = i;
        }

        // prometheus-net labels are ordered; tags are not: sort, and remember where each label's value comes from.
        Array.Sort(labels, order, StringComparer.Ordinal);
        // Two keys that sanitize to one label name ("a.b", "a_b") cannot be exported either.
        Func<string[], ChildBase>? children = null;
        if (labels.Length < 2 || !labels.Skip(1).Where((label, i) => label == labels[i]).Any())
        {
            try
            {
                children = Collector(labels);
            }
            catch (Exception exception) when (exception is ArgumentException or InvalidOperationException)
            {
                children = null;
            }
        }

        lock (_gate)
        {
            if (Find(tags) is { } existing)
            {
                return existing;
            }

            var keySet = new KeySet(keys, order, children);
            Volatile.Write(ref _keySets, [.. _keySets, keySet]);
            return keySet;
        }
    }

    private Func<string[], ChildBase> Collector(string[] labels)
    {
        switch (Type)
        {
            case PrometheusType.Counter:
                var counter = _factory.CreateCounter(Name, Help, labels);
                return values => counter.WithLabels(values);
            case PrometheusType.Gauge:
                var gauge = _factory.CreateGauge(Name, Help, labels);
                return values => gauge.WithLabels(values);
            default:
                var histogram = _factory.CreateHistogram(Name, Help, labels, new HistogramConfiguration { Buckets = _buckets ?? DefaultBuckets });
                return values => histogram.WithLabels(values);
        }
    }

    private static double[]? BucketsOf(Instrument instrument) => instrument switch
    {
        Histogram<double> histogram => histogram.Advice?.HistogramBucketBoundaries?.ToArray(),
        Histogram<float> histogram => histogram.Advice?.HistogramBucketBoundaries?.Select(static bound => (double)bound).ToArray(),
        Histogram<long> histogram => histogram.Advice?.HistogramBucketBoundaries?.Select(static bound => (double)bound).ToArray(),
        Histogram<int> histogram => histogram.Advice?.HistogramBucketBoundaries?.Select(static bound => (double)bound).ToArray(),
        _ => null,
    };

    /// <summary>
    /// The series of one set of tag keys (in the order the instrument's caller passes them). A child is found by
    /// its label values' content (<see cref="LabelValues"/>); the first <see cref="Remembered"/> combinations whose
    /// values are all strings are also remembered by reference, and found by comparing references alone: the relay
    /// passes the same route and direction strings on every read and write, so its series never hash a string.
    /// </summary>
    private sealed class KeySet(string[] keys, int[] order, Func<string[], ChildBase>? create)
    {
        public const int Remembered = 32;

        private readonly ConcurrentDictionary<LabelValues, ChildBase> _children = new();
        private readonly Known?[] _known = new Known?[Remembered];
        private int _knownCount;

        public bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length != keys.Length)
            {
                return false;
            }

            for (var i = 0; i < keys.Length; i++)
            {
                var key = tags[i].Key;
                if (!ReferenceEquals(key, keys[i]) && !string.Equals(key, keys[i], StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }

        public ChildBase? Child(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (create is null)
            {
                return null;
            }

            var known = Math.Min(Volatile.Read(ref _knownCount), Remembered);
            for (var i = 0; i < known; i++)
            {
                if (Volatile.Read(ref _known[i]) is { } entry && entry.Is(tags, order))
                {
                    return entry.Child;
                }
            }

            var values = new LabelValues(tags, order);
            if (!_children.TryGetValue(values, out var child))
            {
                child = _children.GetOrAdd(values, create(values.ToArray()));
            }

            Remember(tags, child);
            return child;
        }

        /// <summary>At most <see cref="Remembered"/> times per key set, so at most that many small allocations.</summary>
        private void Remember(ReadOnlySpan<KeyValuePair<string, object?>> tags, ChildBase child)
        {
            if (Volatile.Read(ref _knownCount) >= Remembered)
            {
                return;
            }

            foreach (var tag in tags)
            {
                // A boxed number is a new object each time: comparing its reference would never match.
                if (tag.Value is not string)
                {
                    return;
                }
            }

            var references = new string[order.Length];
            for (var i = 0; i < order.Length; i++)
            {
                references[i] = (string)tags[order[i]].Value!;
            }

            var slot = Interlocked.Increment(ref _knownCount) - 1;
            if (slot < Remembered)
            {
                Volatile.Write(ref _known[slot], new Known(references, child));
            }
        }
    }

    /// <summary>A series remembered by the references of its label values.</summary>
    private sealed class Known(string[] references, ChildBase child)
    {
        public ChildBase Child { get; } = child;

        public bool Is(ReadOnlySpan<KeyValuePair<string, object?>> tags, int[] order)
        {
            for (var i = 0; i < references.Length; i++)
            {
                if (!ReferenceEquals(tags[order[i]].Value, references[i]))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
