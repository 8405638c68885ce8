using System.Net;

namespace Gateway.Sessions;

/// <summary>
/// The client's address as admission control established it (a trusted proxy's forwarding header, or the TCP
/// peer); sessions record it instead of the peer, which behind a load balancer is the balancer.
/// </summary>
internal interface IClientAddressFeature
{
    IPAddress ClientAddress { get; }
}
