using Gateway.Drain;

namespace Gateway.Tests.Drain;

public sealed class DrainScheduleTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(300)]
    [InlineData(50_000)]
    public void Offsets_FallEachInItsOwnSliceOfTheWindow_SoTheClosesAreEvenlySpread(int count)
    {
        var window = TimeSpan.FromSeconds(30);
        var random = new Random(count);
        var slice = window / count;
        var previous = TimeSpan.MinValue;
        for (var i = 0; i < count; i++)
        {
            var offset = DrainSchedule.OffsetOf(i, count, window, random.NextDouble());
            Assert.InRange(offset, slice * i, slice * (i + 1));
            Assert.True(offset >= previous, "offsets go forward with the index");
            previous = offset;
        }

        Assert.True(previous < window);
    }

    [Fact]
    public void Jitter_MovesTheCloseWithinItsSlice()
    {
        var window = TimeSpan.FromSeconds(10);
        Assert.Equal(TimeSpan.FromSeconds(5), DrainSchedule.OffsetOf(5, 10, window, 0));
        Assert.Equal(TimeSpan.FromSeconds(5.5), DrainSchedule.OffsetOf(5, 10, window, 0.5));
        Assert.Equal(TimeSpan.Zero, DrainSchedule.OffsetOf(3, 10, TimeSpan.Zero, 0.9));
    }

    [Theory]
    [InlineData(-1, 10, 0.5)]
    [InlineData(10, 10, 0.5)]
    [InlineData(0, 10, 1.0)]
    [InlineData(0, 10, -0.1)]
    public void OutOfRangeArguments_Throw(int index, int count, double jitter)
        => Assert.Throws<ArgumentOutOfRangeException>(() => DrainSchedule.OffsetOf(index, count, TimeSpan.FromSeconds(1), jitter));
}
