using System.Collections.Concurrent;
using System.Net;

namespace Gateway.Admission;

/// <summary>
/// Open sessions per client address, against <see cref="ClientLimitOptions.MaxSessions"/>.
/// </summary>
/// <remarks>
/// Not a <c>ConcurrencyLimiter</c> partition: its permit limit is fixed when the partition is created, and a
/// reload would need new partitions that know nothing of the sessions already open, letting every client open
/// its cap again. Here the count lives as long as the client has sessions and the cap is read at each admission.
/// An entry leaves the dictionary with the client's last session: a counter retired at zero is marked −1 so a
/// racing admission takes a fresh entry instead of reviving a removed one.
/// </remarks>
internal sealed class ClientSessionCounter
{
    private readonly ConcurrentDictionary<IPAddress, Entry> _entries = new();

    /// <summary>Addresses with at least one admitted session (an O(n) count; for tests and diagnostics).</summary>
    public int ClientCount => _entries.Count;

    public int SessionsOf(IPAddress client) => _entries.TryGetValue(client, out var entry) ? Math.Max(0, Volatile.Read(ref entry.Count)) : 0;

    public bool TryAcquire(IPAddress client, int maxSessions, out Entry entry)
    {
        while (true)
        {
            entry = _entries.GetOrAdd(client, static _ => new Entry());
            var count = Volatile.Read(ref entry.Count);
            while (count >= 0)
            {
                if (maxSessions > 0 && count >= maxSessions)
                {
                    return false;
                }

                var seen = Interlocked.CompareExchange(ref entry.Count, count + 1, count);
                if (seen == count)
                {
                    return true;
                }

                count = seen;
            }
        }
    }

    public void Release(IPAddress client, Entry entry)
    {
        if (Interlocked.Decrement(ref entry.Count) == 0
            && Interlocked.CompareExchange(ref entry.Count, -1, 0) == 0)
        {
            _entries.TryRemove(new KeyValuePair<IPAddress, Entry>(client, entry));
        }
    }

    internal sealed class Entry
    {
        public int Count;
    }
}
