using Gateway.Sessions;

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

    /// <summary>
    /// Tells <paramref name="sessions"/> to go across <paramref name="window"/>, from now: in random order, each at its
    /// offset, in batches (the sessions whose time came) at most every <paramref name="batchInterval"/>. One loop for
    /// them all, on <paramref name="timeProvider"/>: no timer per session. Used by the pod drain and the destination
    /// drain.
    /// </summary>
    /// <param name="close">Tells one session; 1 if it was told, 0 if it was already ending.</param>
    /// <param name="afterBatch">Each batch's count of sessions told, the time gone since the window started, and how many are still to be told.</param>
    public static async Task CloseAcrossAsync(
        Session[] sessions,
        TimeSpan window,
        TimeSpan batchInterval,
        TimeProvider timeProvider,
        Func<Session, int> close,
        Action<int, TimeSpan, int> afterBatch,
        CancellationToken cancellationToken)
    {
        Random.Shared.Shuffle(sessions);
        var offsets = new TimeSpan[sessions.Length];
        for (var i = 0; i < sessions.Length; i++)
        {
            offsets[i] = OffsetOf(i, sessions.Length, window, Random.Shared.NextDouble());
        }

        var start = timeProvider.GetTimestamp();
        var next = 0;
        while (true)
        {
            var elapsed = timeProvider.GetElapsedTime(start);
            var batch = 0;
            while (next < sessions.Length && offsets[next] <= elapsed)
            {
                batch += close(sessions[next++]);
            }

            afterBatch(batch, elapsed, sessions.Length - next);
            if (next == sessions.Length)
            {
                return;
            }

            var wait = offsets[next] - elapsed;
            await Task.Delay(wait > batchInterval ? wait : batchInterval, timeProvider, cancellationToken);
        }
    }
}
