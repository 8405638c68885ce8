namespace Gateway.Drain;

/// <summary>
/// When each session of a drain is closed: the sessions in random order, the k-th of n at a random point of the
/// k-th of n equal slices of the window (stratified jitter). Closes are therefore spread evenly across the whole
/// window, never bunched at a batch edge, and no two pods that drain together close in lockstep.
/// </summary>
internal static class DrainSchedule
{
    /// <summary>Offset from the window's start at which the session in position <paramref name="index"/> closes.</summary>
    /// <param name="jitter">A number in [0, 1): where within its slice the session falls.</param>
    public static TimeSpan OffsetOf(int index, int count, TimeSpan window, double jitter)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
        if (jitter is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(jitter), jitter, "Jitter must be in [0, 1).");
        }

        return TimeSpan.FromTicks((long)((index + jitter) / count * window.Ticks));
    }
}
