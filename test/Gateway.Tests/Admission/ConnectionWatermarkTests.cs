using Gateway.Admission;

namespace Gateway.Tests.Admission;

public sealed class ConnectionWatermarkTests
{
    private static readonly WatermarkLevels Levels = new(Low: 2, High: 4, Critical: 6);

    [Fact]
    public void TryAcquire_FillsThroughEveryLevel_PriorityOnlyAboveHigh_NothingAtCritical()
    {
        var watermark = new ConnectionWatermark(Levels);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(AdmissionLevel.Normal, watermark.TryAcquire(priority: false, out _));
        }

        Assert.Equal(AdmissionLevel.High, watermark.Level);
        Assert.Equal(AdmissionLevel.High, watermark.TryAcquire(priority: false, out var count));
        Assert.Equal(4, count);
        Assert.Equal(AdmissionLevel.Normal, watermark.TryAcquire(priority: true, out _));
        Assert.Equal(AdmissionLevel.Normal, watermark.TryAcquire(priority: true, out _));
        Assert.Equal(AdmissionLevel.Critical, watermark.Level);
        Assert.Equal(AdmissionLevel.Critical, watermark.TryAcquire(priority: true, out _));
        Assert.Equal(AdmissionLevel.Critical, watermark.TryAcquire(priority: false, out _));

        Assert.Equal(5, watermark.Release());
        Assert.Equal(AdmissionLevel.High, watermark.Level);
        Assert.Equal(4, watermark.Release());
        Assert.Equal(3, watermark.Release());
        Assert.Equal(AdmissionLevel.Elevated, watermark.Level);
        Assert.Equal(AdmissionLevel.Normal, watermark.TryAcquire(priority: false, out _));
    }

    [Fact]
    public async Task TryAcquire_ManyThreadsAtOnce_NeverOvershootsCritical()
    {
        var watermark = new ConnectionWatermark(new WatermarkLevels(100, 500, 1000));
        using var start = new Barrier(4);
        var admitted = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            start.SignalAndWait();
            var taken = 0;
            for (var i = 0; i < 1000; i++)
            {
                if (watermark.TryAcquire(priority: true, out _) == AdmissionLevel.Normal)
                {
                    taken++;
                }
            }

            return taken;
        })));
        Assert.Equal(1000, admitted.Sum());
        Assert.Equal(1000, watermark.Count);
    }

    [Fact]
    public void LevelOf_EqualMarks_SkipsTheBandsBetweenThem()
    {
        var levels = new WatermarkLevels(Low: 5, High: 5, Critical: 5);
        Assert.Equal(AdmissionLevel.Normal, ConnectionWatermark.LevelOf(4, levels));
        Assert.Equal(AdmissionLevel.Critical, ConnectionWatermark.LevelOf(5, levels));
    }
}
