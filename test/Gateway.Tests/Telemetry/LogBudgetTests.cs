using Gateway.Telemetry;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Telemetry;

public sealed class LogBudgetTests
{
    [Fact]
    public void AtMostTheBudgetASecond_TheNextSecondsFirstLineCountsTheRest()
    {
        var time = new ManualTimeProvider();
        var budget = new LogBudget(3, time);

        var taken = Enumerable.Range(0, 10).Count(i => budget.TryTake(out var _));
        Assert.Equal(3, taken);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(budget.TryTake(out var suppressed));
        Assert.Equal(7, suppressed);
        Assert.True(budget.TryTake(out suppressed));
        Assert.Equal(0, suppressed);
    }

    [Fact]
    public async Task FromManyThreads_NeverMoreThanTheBudget()
    {
        var budget = new LogBudget(10, new ManualTimeProvider());
        var taken = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                if (budget.TryTake(out _))
                {
                    Interlocked.Increment(ref taken);
                }
            }
        })));

        Assert.Equal(10, taken);
    }
}
