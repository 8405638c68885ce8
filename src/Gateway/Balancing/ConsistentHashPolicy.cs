using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Gateway.Balancing;

/// <summary>
/// The <c>ConsistentHash</c> load-balancing policy (a cluster's <c>LoadBalancingPolicy</c>), for backends that
/// shard state (chat rooms, game rooms, per-user state): sessions with the same key reach the same destination, on
/// every gateway pod, and a change of destinations moves only the keys it must (<see cref="RendezvousHash"/>). The
/// key and the optional bounded load are the cluster's metadata (<see cref="ConsistentHashSettings"/>). It picks among
/// the destinations YARP considers available (active health, passive health), so a key whose destination is down
/// goes to its next destination in hash order meanwhile and returns when it is back.
/// </summary>
internal sealed class ConsistentHashPolicy : ILoadBalancingPolicy
{
    public const string PolicyName = "ConsistentHash";

    private static readonly Func<DestinationState, string> IdOf = static destination => destination.DestinationId;
    private readonly DestinationLoads _loads;

    public ConsistentHashPolicy(DestinationLoads loads) => _loads = loads;

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count <= 1)
        {
            return availableDestinations.Count == 0 ? null : availableDestinations[0];
        }

        var settings = ConsistentHashSettings.For(cluster.Model.Config);
        var key = settings.HashOf(context);
        if (settings.BalanceFactor is not { } factor)
        {
            return availableDestinations[RendezvousHash.Pick(key, availableDestinations, IdOf)];
        }

        // Bounded load: the first destination in the key's hash order that holds at most factor × the average
        // (counting the session being placed, and the placements whose upgrade is under way). One always does: not
        // all can be above the average.
        var loads = new int[availableDestinations.Count];
        var total = 0;
        for (var i = 0; i < loads.Length; i++)
        {
            loads[i] = _loads.Of(cluster.ClusterId, availableDestinations[i].DestinationId);
            total += loads[i];
        }

        var cap = Math.Ceiling(factor * (total + 1) / loads.Length);
        var chosen = availableDestinations[RendezvousHash.Pick(key, availableDestinations, IdOf, i => loads[i] + 1 <= cap)];
        _loads.Reserve(context, cluster.ClusterId, chosen.DestinationId);
        return chosen;
    }
}
