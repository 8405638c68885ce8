using System.Net;

namespace Gateway.Sessions;

/// <summary>How the client opened its WebSocket.</summary>
internal enum SessionProtocol : byte
{
    /// <summary>HTTP/1.1 <c>Upgrade: websocket</c> (RFC 6455).</summary>
    Http11Upgrade,

    /// <summary>HTTP/2 extended CONNECT with <c>:protocol = websocket</c> (RFC 8441).</summary>
    Http2ExtendedConnect,
}

/// <summary>One side of a session.</summary>
internal enum SessionSide
{
    None = 0,
    Client = 1,
    Backend = 2,
}

/// <summary>Why a session ended; the <c>reason</c> label of <c>gateway_sessions_closed_total</c>.</summary>
internal enum SessionCloseReason
{
    /// <summary>The client sent the first close frame.</summary>
    ClientClose,

    /// <summary>The backend sent the first close frame.</summary>
    BackendClose,

    /// <summary>
    /// The gateway closed the session after the idle timeout: no application message in either direction (tier 3
    /// of the heartbeat), or, with the heartbeat off, no byte at all for the cluster's activity timeout.
    /// </summary>
    IdleTimeout,

    /// <summary>The client's connection ended (reset, dropped, a failed write) without a close frame.</summary>
    ClientLost,

    /// <summary>
    /// The backend's connection ended without a close frame (the backend crashed, was killed, or the network
    /// dropped); the gateway closed the client with 1011 or 1012 where it could.
    /// </summary>
    BackendLost,

    /// <summary>The client stopped answering: no frame within the pong timeout after a gateway ping (tier 2).</summary>
    HeartbeatTimeout,

    /// <summary>The gateway shed the session, coldest first, because active sessions passed the high watermark (tier 4).</summary>
    Pressure,

    /// <summary>The client sent a frame RFC 6455 forbids; it got close 1002.</summary>
    ProtocolError,

    /// <summary>The client sent a frame or message over the route's limit; it got close 1009.</summary>
    MessageTooBig,

    /// <summary>The gateway was shutting down and told the session to go away (close 1001, through the backend).</summary>
    Drain,
}

/// <summary>What is known about a session when its upgrade succeeds.</summary>
internal readonly record struct SessionStartInfo(
    string RouteId,
    string ClusterId,
    string? DestinationId,
    IPAddress? ClientAddress,
    int ClientPort,
    SessionProtocol Protocol,
    bool Degraded = false,
    SessionRoutePolicy? Policy = null);

internal static class SessionNames
{
    public static string ToTagValue(this SessionCloseReason reason) => reason switch
    {
        SessionCloseReason.ClientClose => "client_close",
        SessionCloseReason.BackendClose => "backend_close",
        SessionCloseReason.IdleTimeout => "idle_timeout",
        SessionCloseReason.ClientLost => "client_lost",
        SessionCloseReason.HeartbeatTimeout => "heartbeat_timeout",
        SessionCloseReason.Pressure => "pressure",
        SessionCloseReason.ProtocolError => "protocol_error",
        SessionCloseReason.MessageTooBig => "message_too_big",
        SessionCloseReason.Drain => "drain",
        _ => "backend_lost",
    };

    public static string ToTagValue(this SessionProtocol protocol)
        => protocol == SessionProtocol.Http2ExtendedConnect ? "h2" : "http/1.1";
}
