using System.Net;

namespace Gateway.Sessions;

/// <summary>What is known about a session when its upgrade succeeds.</summary>
internal readonly record struct SessionStartInfo(
    string RouteId,
    string ClusterId,
    string? DestinationId,
    IPAddress? ClientAddress,
    int ClientPort,
    SessionProtocol Protocol,
    bool Degraded = false,
    SessionRoutePolicy? Policy = null,
    SessionPath Path = SessionPath.Yarp,
    string? DestinationAddress = null);
