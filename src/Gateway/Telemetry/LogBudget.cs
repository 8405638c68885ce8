namespace Gateway.Telemetry;

/// <summary>
/// At most <see cref="PerSecond"/> lines a second for a log line that requests a client controls can trigger (a
/// failed forward to a backend that is down), so no client can turn the gateway's log into a flood: the lines past
/// the budget are counted, and the first line of a later second reports how many were left out.
/// </summary>
/// <remarks>
/// No timer and no lock: one word holds the second and the count (a compare-and-swap per line that asks), the
/// suppressed count another. Written by hand because Microsoft.Extensions.Logging has no sampling or rate limit of
/// its own (a filter decides by category and level only).
/// </remarks>
internal sealed class LogBudget
{
    private readonly TimeProvider _timeProvider;
    private long _secondAndCount;
    private long _suppressed;

    public LogBudget(int perSecond, TimeProvider timeProvider)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perSecond, 1);
        PerSecond = perSecond;
        _timeProvider = timeProvider;
    }

    public int PerSecond { get; }

    /// <summary>
    /// Whether this line may be written; when it may, <paramref name="suppressed"/> is how many lines were left out
    /// since the last one written (to say so in it, or next to it).
    /// </summary>
    public bool TryTake(out long suppressed)
    {
        var second = _timeProvider.GetTimestamp() / _timeProvider.TimestampFrequency;
        while (true)
        {
            var current = Volatile.Read(ref _secondAndCount);
            var currentSecond = current >> 16;
            var count = current & 0xFFFF;
            long next;
            if (currentSecond != second)
            {
                next = (second << 16) | 1;
            }
            else if (count < PerSecond)
            {
                next = current + 1;
            }
            else
            {
                Interlocked.Increment(ref _suppressed);
                suppressed = 0;
                return false;
            }

            if (Interlocked.CompareExchange(ref _secondAndCount, next, current) == current)
            {
                suppressed = Interlocked.Exchange(ref _suppressed, 0);
                return true;
            }
        }
    }
}
