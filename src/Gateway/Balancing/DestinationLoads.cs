using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Gateway.Sessions;

namespace Gateway.Balancing;

/// <summary>
/// Live sessions per destination, for <see cref="ConsistentHashPolicy"/>'s bounded load, and the placements whose
/// upgrade is still under way (<see cref="Reserve"/>). YARP's own <c>ConcurrentRequestCount</c> cannot serve: a
/// session on the lean path leaves its request (and that count) at the handshake. Counted from the registry's open
/// and close, one dictionary read and one interlocked add a session each way, never per message. An entry
/// (~100 bytes) stays after its destination leaves the configuration.
/// </summary>
internal sealed class DestinationLoads
{
    private readonly ConcurrentDictionary<(string Cluster, string Destination), StrongBox<int>> _counts = new();

    public DestinationLoads(SessionRegistry registry)
    {
        registry.Opened += session => Add(session, 1);
        registry.Closed += session => Add(session, -1);
    }

    public int Of(string clusterId, string destinationId)
        => _counts.TryGetValue((clusterId, destinationId), out var count) ? Volatile.Read(ref count.Value) : 0;

    /// <summary>Counts a placement on the destination until the request's answer starts or the request ends.</summary>
    public void Reserve(HttpContext context, string clusterId, string destinationId)
    {
        var placement = new PendingPlacement(CountOf(clusterId, destinationId));
        context.Response.RegisterForDispose(placement);
        context.Response.OnStarting(static state =>
        {
            ((PendingPlacement)state).Dispose();
            return Task.CompletedTask;
        }, placement);
    }

    private void Add(Session session, int delta)
    {
        if (session.DestinationId is { } destination)
        {
            Interlocked.Add(ref CountOf(session.ClusterId, destination).Value, delta);
        }
    }

    private StrongBox<int> CountOf(string clusterId, string destinationId)
        => _counts.GetOrAdd((clusterId, destinationId), static _ => new StrongBox<int>());
}
