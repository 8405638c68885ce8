namespace Gateway.Tests.Infrastructure;

/// <summary>A clock that moves only when the test says so (FakeTimeProvider's package is not available here).</summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private long _timestamp = 1_000_000;
    private DateTimeOffset _utcNow = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _timestamp);

    public override DateTimeOffset GetUtcNow() => _utcNow;

    public void Advance(TimeSpan by)
    {
        Interlocked.Add(ref _timestamp, by.Ticks);
        _utcNow += by;
    }
}
