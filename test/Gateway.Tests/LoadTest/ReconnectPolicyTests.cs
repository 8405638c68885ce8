using Gateway.LoadTest.Reconnect;

namespace Gateway.Tests.LoadTest;

/// <summary>Exponential backoff with full jitter, the cap, and the server's hints.</summary>
public sealed class ReconnectPolicyTests
{
    private static readonly TimeSpan Base = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Cap = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(0, 500)]
    [InlineData(1, 1000)]
    [InlineData(3, 4000)]
    [InlineData(6, 30000)]
    [InlineData(62, 30000)]
    public void Delay_IsUniformBetweenZeroAndTheCappedExponential(int failures, double ceilingMs)
    {
        var policy = new ReconnectPolicy(Base, Cap, new Random(7));
        var delays = Enumerable.Range(0, 10_000).Select(_ => policy.Delay(failures, hint: null).TotalMilliseconds).ToArray();

        Assert.All(delays, delay => Assert.InRange(delay, 0, ceilingMs));
        // Full jitter: spread over the whole range, not bunched at its top (a mean near half, both ends reached).
        Assert.InRange(delays.Average(), ceilingMs * 0.45, ceilingMs * 0.55);
        Assert.True(delays.Min() < ceilingMs * 0.01 && delays.Max() > ceilingMs * 0.99);
    }

    [Fact]
    public void Delay_WithAServerHint_IsTheHintPlusAtMostOneBase_EvenAboveTheCap()
    {
        var policy = new ReconnectPolicy(Base, Cap, new Random(7));

        var delays = Enumerable.Range(0, 1_000).Select(_ => policy.Delay(failures: 5, TimeSpan.FromSeconds(100))).ToArray();

        Assert.All(delays, delay => Assert.InRange(delay, TimeSpan.FromSeconds(100), TimeSpan.FromSeconds(100) + Base));
    }

    [Theory]
    [InlineData(1013, "Try Again Later; retry after 7 s", 7)]
    [InlineData(1013, "retry after 120 s", 120)]
    [InlineData(1013, "Try Again Later", null)]
    [InlineData(1012, "service restart; retry after 7 s", null)]
    [InlineData(null, null, null)]
    public void HintOf_ReadsTheRetryAfterOfA1013Close(int? status, string? reason, int? seconds)
        => Assert.Equal(seconds is { } s ? TimeSpan.FromSeconds(s) : null, ReconnectPolicy.HintOf(status, reason));

    [Fact]
    public void Constructor_RefusesACapBelowTheBase()
        => Assert.Throws<ArgumentOutOfRangeException>(() => new ReconnectPolicy(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), new Random(1)));
}
