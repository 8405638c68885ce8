using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Gateway.Resilience;

/// <summary>
/// The passive health policy every cluster gets unless it names another: it observes nothing itself, because
/// the destination breakers already decide (<see cref="DestinationBreakers"/> writes their verdict through
/// <see cref="IDestinationHealthUpdater.SetPassive"/>). It exists because YARP's availability policies ignore
/// passive health unless passive checks are enabled for the cluster, and enabling them needs a policy.
/// </summary>
internal sealed class BreakerPassiveHealthPolicy : IPassiveHealthCheckPolicy
{
    public const string PolicyName = "CircuitBreaker";

    public string Name => PolicyName;

    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
    }
}
