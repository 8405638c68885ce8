using System.Numerics;

namespace Gateway.LoadTest.Metrics;

/// <summary>
/// A fixed-size log-linear histogram of non-negative integers (microseconds, seconds...), in the manner of
/// HdrHistogram: values below 256 are counted exactly; above, every power-of-two range [2^e, 2^(e+1)) is cut into
/// 128 linear sub-buckets, so a bucket is at most 1/128 of its lower bound wide and a reported value (the bucket's
/// midpoint) is within <see cref="MaxRelativeError"/> of any value counted in it (2 significant digits and a bit).
/// No per-sample storage; recording is lock-free (one interlocked increment); histograms merge by adding counts.
/// </summary>
internal sealed class LogLinearHistogram
{
    /// <summary>Upper bound of the relative error of a reported percentile: half a bucket, 1/256.</summary>
    public const double MaxRelativeError = 1.0 / 256;

    /// <summary>Values above this (about 51 days in microseconds) are counted as this.</summary>
    public const long HighestTrackableValue = (1L << 42) - 1;

    private const int SubBucketBits = 7;
    private const int SubBucketCount = 1 << SubBucketBits;

    internal static readonly int BucketCount = IndexOf(HighestTrackableValue) + 1;

    private readonly long[] _counts = new long[BucketCount];
    private long _count;
    private long _sum;
    private long _min = long.MaxValue;
    private long _max = long.MinValue;

    public long Count => Volatile.Read(ref _count);

    public long Min => Count == 0 ? 0 : Volatile.Read(ref _min);

    public long Max => Count == 0 ? 0 : Volatile.Read(ref _max);

    public double Mean => Count == 0 ? 0 : (double)Volatile.Read(ref _sum) / Count;

    public void Record(long value)
    {
        value = Math.Clamp(value, 0, HighestTrackableValue);
        Interlocked.Increment(ref _counts[IndexOf(value)]);
        Interlocked.Add(ref _sum, value);
        UpdateMin(value);
        UpdateMax(value);
        Interlocked.Increment(ref _count);
    }

    /// <summary>The value at <paramref name="percentile"/> (0..100): the midpoint of the bucket holding the
    /// sample of rank ceil(p/100 × count), clamped to the exact min and max.</summary>
    public long ValueAtPercentile(double percentile)
    {
        var count = Count;
        if (count == 0)
        {
            return 0;
        }

        var rank = Math.Max(1, (long)Math.Ceiling(Math.Clamp(percentile, 0, 100) / 100 * count));
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += Volatile.Read(ref _counts[i]);
            if (seen >= rank)
            {
                var (lower, width) = BucketOf(i);
                return Math.Clamp(lower + ((width - 1) / 2), Min, Max);
            }
        }

        return Max;
    }

    /// <summary>Adds every count of <paramref name="other"/> to this one.</summary>
    public void Add(LogLinearHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Count == 0)
        {
            return;
        }

        for (var i = 0; i < _counts.Length; i++)
        {
            var c = Volatile.Read(ref other._counts[i]);
            if (c != 0)
            {
                Interlocked.Add(ref _counts[i], c);
            }
        }

        Interlocked.Add(ref _sum, Volatile.Read(ref other._sum));
        UpdateMin(other.Min);
        UpdateMax(other.Max);
        Interlocked.Add(ref _count, other.Count);
    }

    public HistogramData ToData()
    {
        var buckets = new List<long[]>();
        for (var i = 0; i < _counts.Length; i++)
        {
            var c = Volatile.Read(ref _counts[i]);
            if (c != 0)
            {
                buckets.Add([i, c]);
            }
        }

        return new HistogramData
        {
            Count = Count,
            Sum = Volatile.Read(ref _sum),
            Min = Min,
            Max = Max,
            Buckets = buckets,
        };
    }

    public static LogLinearHistogram FromData(HistogramData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var histogram = new LogLinearHistogram();
        long total = 0;
        foreach (var bucket in data.Buckets)
        {
            if (bucket.Length != 2 || bucket[0] < 0 || bucket[0] >= BucketCount || bucket[1] < 0)
            {
                throw new FormatException($"Bad histogram bucket [{string.Join(",", bucket)}].");
            }

            histogram._counts[bucket[0]] = bucket[1];
            total += bucket[1];
        }

        if (total != data.Count)
        {
            throw new FormatException($"Histogram buckets hold {total} values but its count is {data.Count}.");
        }

        histogram._count = data.Count;
        histogram._sum = data.Sum;
        if (data.Count > 0)
        {
            histogram._min = data.Min;
            histogram._max = data.Max;
        }

        return histogram;
    }

    internal static int IndexOf(long value)
    {
        // Values below 2 × SubBucketCount map to themselves; above, each power of two gets SubBucketCount buckets.
        var shift = Math.Max(0, 63 - BitOperations.LeadingZeroCount((ulong)value) - SubBucketBits);
        return (shift << SubBucketBits) + (int)(value >> shift);
    }

    internal static (long Lower, long Width) BucketOf(int index)
    {
        if (index < 2 * SubBucketCount)
        {
            return (index, 1);
        }

        var shift = (index >> SubBucketBits) - 1;
        return ((long)(index - (shift << SubBucketBits)) << shift, 1L << shift);
    }

    private void UpdateMin(long value)
    {
        var current = Volatile.Read(ref _min);
        while (value < current)
        {
            var seen = Interlocked.CompareExchange(ref _min, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    private void UpdateMax(long value)
    {
        var current = Volatile.Read(ref _max);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref _max, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}

/// <summary>The serialised form of a <see cref="LogLinearHistogram"/>: only the non-empty buckets, as [index, count].</summary>
internal sealed class HistogramData
{
    public long Count { get; set; }

    public long Sum { get; set; }

    public long Min { get; set; }

    public long Max { get; set; }

    public IList<long[]> Buckets { get; init; } = [];
}
