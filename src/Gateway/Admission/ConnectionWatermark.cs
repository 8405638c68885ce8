namespace Gateway.Admission;

/// <summary>How full the pod is; the <c>gateway_admission_level</c> gauge.</summary>
internal enum AdmissionLevel
{
    /// <summary>Below the low watermark: full refill rate.</summary>
    Normal = 0,

    /// <summary>Between low and high: the refill shrinks as sessions grow.</summary>
    Elevated = 1,

    /// <summary>At or above high: only priority routes admit.</summary>
    High = 2,

    /// <summary>At or above critical: nothing is admitted.</summary>
    Critical = 3,
}

/// <summary>
/// The number of admitted sessions (live ones plus those still in their upgrade) against the low, high and
/// critical marks. Counted here rather than read from the session registry because an admitted upgrade is not
/// a session until the backend has answered: in a storm thousands can be in flight, and they must count.
/// A compare-and-swap loop like Kestrel's <c>ResourceCounter</c>: no lock, and the critical mark can never be
/// overshot however many threads admit at once.
/// </summary>
internal sealed class ConnectionWatermark
{
    private int _count;
    private WatermarkLevels _levels;

    public ConnectionWatermark(WatermarkLevels levels)
    {
        _levels = levels;
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Replaced whole on a configuration reload; admitted sessions are kept and counted against the new marks.</summary>
    public WatermarkLevels Levels
    {
        get => _levels;
        set => _levels = value;
    }

    public AdmissionLevel Level => LevelOf(Count, Levels);

    public static AdmissionLevel LevelOf(int count, WatermarkLevels levels)
        => count >= levels.Critical ? AdmissionLevel.Critical
        : count >= levels.High ? AdmissionLevel.High
        : count >= levels.Low ? AdmissionLevel.Elevated
        : AdmissionLevel.Normal;

    /// <summary>
    /// Takes a slot unless the count is at the critical mark, or at the high mark for a non-priority route.
    /// Returns the level that refused, or <see cref="AdmissionLevel.Normal"/> when the slot was taken.
    /// </summary>
    public AdmissionLevel TryAcquire(bool priority, out int count)
    {
        var levels = Levels;
        count = Volatile.Read(ref _count);
        while (true)
        {
            if (count >= levels.Critical)
            {
                return AdmissionLevel.Critical;
            }

            if (!priority && count >= levels.High)
            {
                return AdmissionLevel.High;
            }

            var seen = Interlocked.CompareExchange(ref _count, count + 1, count);
            if (seen == count)
            {
                count++;
                return AdmissionLevel.Normal;
            }

            count = seen;
        }
    }

    /// <summary>Returns a slot; the count after.</summary>
    public int Release() => Interlocked.Decrement(ref _count);
}
