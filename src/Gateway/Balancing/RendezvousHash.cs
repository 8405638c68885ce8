using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Gateway.Balancing;

/// <summary>
/// Rendezvous (highest-random-weight) hashing: each destination scores the key, the highest score wins. Removing one
/// of N destinations moves exactly the keys it had (about 1/N) and nothing else; adding one takes about 1/(N+1) of the
/// keys, all from the others, none moved between them. Chosen over Maglev for having no table to build on every
/// configuration change and no per-cluster state at all: a pick costs one hash per available destination, a few
/// tens of nanoseconds each, once per upgrade. Hashes are XxHash3 (System.IO.Hashing), stable across processes and
/// releases, so every gateway pod sends a key to the same destination.
/// </summary>
internal static class RendezvousHash
{
    public static ulong HashOf(string value) => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(value.AsSpan()));

    public static ulong HashOf(ReadOnlySpan<byte> value) => XxHash3.HashToUInt64(value);

    /// <summary>The destination's score for a key: one hash of the pair.</summary>
    public static ulong Score(ulong key, string destinationId)
    {
        Span<byte> pair = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(pair, key);
        BinaryPrimitives.WriteUInt64LittleEndian(pair[8..], HashOf(destinationId));
        return XxHash3.HashToUInt64(pair);
    }

    /// <summary>
    /// The index of the winning destination, among the indexes <paramref name="accept"/> takes (all when null; the overall
    /// winner when it takes none). Ties (practically never) go to the smaller id, so the order of the list does not
    /// matter.
    /// </summary>
    public static int Pick<T>(ulong key, IReadOnlyList<T> destinations, Func<T, string> idOf, Func<int, bool>? accept = null)
    {
        var best = -1;
        var bestScore = 0UL;
        string? bestId = null;
        for (var i = 0; i < destinations.Count; i++)
        {
            if (accept is not null && !accept(i))
            {
                continue;
            }

            var id = idOf(destinations[i]);
            var score = Score(key, id);
            if (best < 0 || score > bestScore || (score == bestScore && string.CompareOrdinal(id, bestId) < 0))
            {
                best = i;
                bestScore = score;
                bestId = id;
            }
        }

        return best < 0 && accept is not null ? Pick(key, destinations, idOf) : best;
    }
}
