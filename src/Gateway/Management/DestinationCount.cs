namespace Gateway.Management;

/// <summary>Sessions on one destination of one cluster (<c>GET /admin/sessions/counts</c>); destination ids are only unique in their cluster.</summary>
internal sealed record DestinationCount(string Cluster, string? Destination, int Sessions);
