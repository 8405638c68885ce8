using Gateway.Sessions;

namespace Gateway.Proxy;

internal readonly record struct SessionTarget(string ClusterId, string? DestinationId, bool Degraded, SessionRoutePolicy? Policy = null, string? DestinationAddress = null);
