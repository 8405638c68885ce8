using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Reporting;
using Gateway.LoadTest.Scenarios;

namespace Gateway.Tests.LoadTest;

public sealed class LoadTestResultTests
{
    [Fact]
    public void Merge_OfTwoWorkers_AddsCountsRatesAndHistograms()
    {
        var options = new LoadTestOptions { Command = LoadTestCommand.Echo, Url = new Uri("ws://h/x"), Sessions = 10, Rate = 100, Size = 64, Duration = TimeSpan.FromSeconds(2) };
        var a = Worker(1_000, 5);
        var b = Worker(3_000, 7);

        var merged = LoadTestResult.Merge([
            LoadTestResult.FromJson(LoadTestResult.From(a, options, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(2)).ToJson()),
            LoadTestResult.FromJson(LoadTestResult.From(b, options, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(2)).ToJson()),
        ]);

        Assert.Equal(2, merged.Workers);
        Assert.Equal(20, merged.Sessions.Requested);
        Assert.Equal(12, merged.Sessions.Opened);
        Assert.Equal(4, merged.ElapsedSeconds);
        Assert.Equal(200, merged.Messages!.RequestedRate);
        Assert.Equal(400, merged.Messages.Requested);
        Assert.Equal(12, merged.Messages.Received);
        Assert.Equal(6, merged.Messages.AchievedRate);
        Assert.Equal(12, merged.RoundTripMs!.Count);
        Assert.Equal(1, merged.RoundTripMs.Min);
        Assert.Equal(3, merged.RoundTripMs.Max);
        Assert.Equal(2, merged.Failures["timeout"]);
        Assert.Equal(2, merged.FailureCount);
    }

    [Fact]
    public void Merge_WithReconnect_AddsCausesTimesSequenceCountsAndTheSeriesSecondBySecond()
    {
        var options = new LoadTestOptions { Command = LoadTestCommand.Echo, Url = new Uri("ws://h/x"), Sessions = 4, Rate = 10, Size = 32, Duration = TimeSpan.FromSeconds(3), Reconnect = true };
        var a = Worker(1_000, 2);
        a.Reconnected("close_1012", 150_000);
        a.Reconnected("dropped", 50_000);
        a.SetSequenceCounts(0, 3, 0);
        a.OpenPerSecond.AddRange([2, 1, 2]);
        var b = Worker(1_000, 2);
        b.Reconnected("close_1012", 1_100_000);
        b.SetSequenceCounts(1, 2, 1);
        b.OpenPerSecond.AddRange([2, 2, 2, 2]);

        var merged = LoadTestResult.Merge([
            LoadTestResult.FromJson(LoadTestResult.From(a, options, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(3)).ToJson()),
            LoadTestResult.FromJson(LoadTestResult.From(b, options, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(3)).ToJson()),
        ]);

        Assert.Equal(3, merged.Reconnects!.Count);
        Assert.Equal(2, merged.Reconnects.ByCause["close_1012"]);
        Assert.Equal(1, merged.Reconnects.ByCause["dropped"]);
        Assert.Equal(3, merged.Reconnects.TimeToReconnectMs.Count);
        Assert.InRange(merged.Reconnects.TimeToReconnectMs.Max, 1_095, 1_105);
        Assert.Equal((1L, 5L, 1L), (merged.Messages!.Lost!.Value, merged.Messages.LostInClose!.Value, merged.Messages.Duplicated!.Value));
        Assert.Equal([4L, 3L, 4L, 2L], merged.OpenPerSecond);
    }

    [Fact]
    public void Storm_RetryAfterSummary_IsMinMedianMax()
    {
        var metrics = new RunMetrics();
        foreach (var seconds in new long[] { 1, 2, 2, 3, 9 })
        {
            metrics.Rejected(503, seconds);
            metrics.SessionFailed("http_503");
        }

        metrics.Rejected(429, null);
        var options = new LoadTestOptions { Command = LoadTestCommand.Storm, Url = new Uri("ws://h/x"), Attempts = 6 };
        var result = LoadTestResult.FromJson(LoadTestResult.From(metrics, options, TimeSpan.FromSeconds(1), null).ToJson());

        Assert.Equal(5, result.Storm!.RejectedByStatus["503"]);
        Assert.Equal(1, result.Storm.RejectedByStatus["429"]);
        Assert.Equal((5L, 1L, 2L, 9L), (result.Storm.RetryAfterSeconds.Count, result.Storm.RetryAfterSeconds.Min, result.Storm.RetryAfterSeconds.P50, result.Storm.RetryAfterSeconds.Max));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MessageTimestamp_RoundTrips_AndTextStaysAscii(bool text)
    {
        var ticks = System.Diagnostics.Stopwatch.GetTimestamp();
        var buffer = new byte[8];
        MessageTimestamp.Write(buffer, ticks, text);
        Assert.Equal(ticks, MessageTimestamp.Read(buffer, text));
        if (text)
        {
            Assert.All(buffer, b => Assert.True(b < 0x80));
        }
    }

    private static RunMetrics Worker(long roundTripMicroseconds, int opened)
    {
        var metrics = new RunMetrics();
        for (var i = 0; i < opened; i++)
        {
            metrics.SessionOpened(100);
        }

        for (var i = 0; i < 6; i++)
        {
            metrics.MessageSent();
            metrics.MessageReceived(roundTripMicroseconds, -1);
        }

        metrics.SessionFailed("timeout");
        return metrics;
    }
}
