using System.Net;
using Gateway.Sessions;

namespace Gateway.Management;

/// <summary>Which sessions a management call means: each field set must match (ids case-insensitively, as YARP's), null matches all.</summary>
internal sealed record SessionFilter(string? Route, string? Cluster, string? Destination, IPAddress? Client)
{
    public bool Matches(Session session)
        => Same(Route, session.RouteId)
            && Same(Cluster, session.ClusterId)
            && (Destination is null || Same(Destination, session.DestinationId))
            && (Client is null || (session.ClientAddress is { } address && Normal(address).Equals(Client)));

    /// <summary>Parses a client address (IPv4 or IPv6); an IPv4 address mapped into IPv6 is the IPv4 one, as the gateway logs it.</summary>
    public static bool TryParseClient(string text, out IPAddress? address)
    {
        address = IPAddress.TryParse(text, out var parsed) ? Normal(parsed) : null;
        return address is not null;
    }

    /// <summary>An IPv4 address mapped into IPv6 as the IPv4 one (how the gateway logs and lists clients).</summary>
    public static IPAddress Normal(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static bool Same(string? wanted, string? actual) => wanted is null || string.Equals(wanted, actual, StringComparison.OrdinalIgnoreCase);
}
