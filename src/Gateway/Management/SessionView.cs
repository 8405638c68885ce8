namespace Gateway.Management;

/// <summary>One session as the management API lists it (<c>GET /admin/sessions</c>); the shape is in docs/operations.md.</summary>
/// <param name="Closing">Why the gateway is closing it (a reason tag, e.g. <c>destination_drain</c>), or null.</param>
/// <param name="IdleSeconds">Time since the last application message in either direction.</param>
/// <param name="RoundTripMs">The last gateway ping's round trip, or null if no pong has come back.</param>
internal sealed record SessionView(
    long Id,
    string Route,
    string Cluster,
    string? Destination,
    string? DestinationAddress,
    string? Client,
    int ClientPort,
    string Protocol,
    string Path,
    string Tier,
    bool Degraded,
    double AgeSeconds,
    double IdleSeconds,
    double? RoundTripMs,
    long ClientMessages,
    long ClientBytes,
    long BackendMessages,
    long BackendBytes,
    string? Closing);
