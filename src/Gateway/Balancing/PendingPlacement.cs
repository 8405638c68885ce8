using System.Runtime.CompilerServices;

namespace Gateway.Balancing;

/// <summary>
/// A session <see cref="ConsistentHashPolicy"/> placed whose upgrade is still under way: it counts on its destination
/// until the upgrade's answer starts (the session opens then, and the registry counts it instead) or the request
/// ends without one. Without it, a burst of upgrades for one key would all see the same counts and pile onto one
/// destination past the balance factor.
/// </summary>
internal sealed class PendingPlacement : IDisposable
{
    private StrongBox<int>? _count;

    public PendingPlacement(StrongBox<int> count)
    {
        Interlocked.Increment(ref count.Value);
        _count = count;
    }

    /// <summary>Releases the placement; only the first call counts.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _count, null) is { } count)
        {
            Interlocked.Decrement(ref count.Value);
        }
    }
}
