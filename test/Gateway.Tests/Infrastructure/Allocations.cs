namespace Gateway.Tests.Infrastructure;

/// <summary>Measures what a synchronous hot-path step allocates on the calling thread.</summary>
internal static class Allocations
{
    /// <summary>
    /// Runs <paramref name="step"/> <paramref name="warmup"/> times, then <paramref name="rounds"/> rounds of
    /// <paramref name="iterations"/> and returns the bytes allocated by the cheapest round. A per-call allocation
    /// shows in every round; a rare runtime allocation on this thread (a tier-up, a lazily created thread static)
    /// shows in one round at most and does not fail a zero-allocation assertion. Keep the step free of async
    /// frames of its own and of xunit's Assert: both allocate in Debug builds.
    /// </summary>
    public static long MinimumPerRound(Action step, int warmup, int iterations, int rounds)
    {
        for (var i = 0; i < warmup; i++)
        {
            step();
        }

        var minimum = long.MaxValue;
        for (var round = 0; round < rounds; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < iterations; i++)
            {
                step();
            }

            minimum = Math.Min(minimum, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return minimum;
    }
}
