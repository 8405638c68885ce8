using Gateway.LoadTest.Metrics;

namespace Gateway.Tests.LoadTest;

public sealed class LogLinearHistogramTests
{
    private static readonly double[] Percentiles = [50, 90, 99, 99.9, 100];

    public static TheoryData<string> Distributions => ["uniform", "exponential", "lognormal", "bimodal", "small"];

    [Theory]
    [MemberData(nameof(Distributions))]
    public void ValueAtPercentile_100kSamples_WithinTheStatedRelativeErrorOfTheExactPercentile(string distribution)
    {
        var random = new Random(42);
        var samples = Sample(distribution, random, 100_000);
        var histogram = new LogLinearHistogram();
        foreach (var sample in samples)
        {
            histogram.Record(sample);
        }

        Array.Sort(samples);
        Assert.Equal(samples.Length, histogram.Count);
        Assert.Equal(samples[0], histogram.Min);
        Assert.Equal(samples[^1], histogram.Max);
        foreach (var p in Percentiles)
        {
            var exact = samples[Math.Max(0, (int)Math.Ceiling(p / 100 * samples.Length) - 1)];
            var reported = histogram.ValueAtPercentile(p);
            var error = Math.Abs(reported - exact) / (double)Math.Max(1, exact);
            Assert.True(error <= LogLinearHistogram.MaxRelativeError, $"{distribution} p{p}: exact {exact}, reported {reported}, relative error {error:P3}");
        }

        Assert.Equal(samples.Average(), histogram.Mean, 6);
    }

    [Fact]
    public void Buckets_AreContiguous_AndNarrowerThanTheStatedError()
    {
        long expectedLower = 0;
        for (var i = 0; i < LogLinearHistogram.BucketCount; i++)
        {
            var (lower, width) = LogLinearHistogram.BucketOf(i);
            Assert.Equal(expectedLower, lower);
            Assert.Equal(i, LogLinearHistogram.IndexOf(lower));
            Assert.Equal(i, LogLinearHistogram.IndexOf(lower + width - 1));
            Assert.True((width - 1) / 2.0 <= Math.Max(1, lower) * LogLinearHistogram.MaxRelativeError, $"bucket {i} [{lower}, +{width})");
            expectedLower = lower + width;
        }
    }

    [Fact]
    public void Add_TwoHistograms_EqualsTheHistogramOfTheUnion()
    {
        var random = new Random(7);
        var a = new LogLinearHistogram();
        var b = new LogLinearHistogram();
        var union = new LogLinearHistogram();
        foreach (var sample in Sample("lognormal", random, 50_000))
        {
            a.Record(sample);
            union.Record(sample);
        }

        foreach (var sample in Sample("uniform", random, 30_000))
        {
            b.Record(sample);
            union.Record(sample);
        }

        a.Add(b);

        Assert.Equal(union.ToData().Buckets, a.ToData().Buckets);
        Assert.Equal(union.Count, a.Count);
        Assert.Equal(union.Min, a.Min);
        Assert.Equal(union.Max, a.Max);
        Assert.Equal(union.Mean, a.Mean);
        foreach (var p in Percentiles)
        {
            Assert.Equal(union.ValueAtPercentile(p), a.ValueAtPercentile(p));
        }
    }

    [Fact]
    public void JsonRoundTrip_KeepsEveryBucketAndStatistic()
    {
        var histogram = new LogLinearHistogram();
        foreach (var sample in Sample("bimodal", new Random(3), 10_000))
        {
            histogram.Record(sample);
        }

        var json = System.Text.Json.JsonSerializer.Serialize(histogram.ToData(), Gateway.LoadTest.Reporting.LoadTestResult.JsonOptions);
        var back = LogLinearHistogram.FromData(System.Text.Json.JsonSerializer.Deserialize<HistogramData>(json, Gateway.LoadTest.Reporting.LoadTestResult.JsonOptions)!);

        Assert.Equal(histogram.ToData().Buckets, back.ToData().Buckets);
        Assert.Equal((histogram.Count, histogram.Min, histogram.Max, histogram.Mean), (back.Count, back.Min, back.Max, back.Mean));
        Assert.Equal(histogram.ValueAtPercentile(99.9), back.ValueAtPercentile(99.9));
    }

    [Fact]
    public void FromData_CountsThatDoNotAddUp_Throws()
    {
        var data = new HistogramData { Count = 3, Buckets = [[5, 2]], Min = 5, Max = 5 };
        Assert.Throws<FormatException>(() => LogLinearHistogram.FromData(data));
    }

    [Fact]
    public void Empty_ReportsZeros()
    {
        var histogram = new LogLinearHistogram();
        Assert.Equal((0L, 0L, 0L, 0L), (histogram.Count, histogram.Min, histogram.Max, histogram.ValueAtPercentile(99)));
    }

    private static long[] Sample(string distribution, Random random, int count)
    {
        var samples = new long[count];
        for (var i = 0; i < count; i++)
        {
            samples[i] = distribution switch
            {
                // Microseconds: a loopback round trip, a slow tail, two populations, tiny exact values.
                "uniform" => random.NextInt64(0, 5_000_000),
                "exponential" => (long)(-Math.Log(1 - random.NextDouble()) * 800),
                "lognormal" => (long)Math.Exp(6 + (2 * Gaussian(random))),
                "bimodal" => random.Next(2) == 0 ? random.NextInt64(100, 300) : random.NextInt64(40_000, 90_000),
                "small" => random.NextInt64(0, 300),
                _ => throw new ArgumentOutOfRangeException(nameof(distribution)),
            };
        }

        return samples;
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
