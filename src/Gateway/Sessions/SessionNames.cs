namespace Gateway.Sessions;

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

    public static string ToTagValue(this SessionPath path) => path == SessionPath.Lean ? "lean" : "yarp";

    public static string ToTagValue(this SessionProtocol protocol)
        => protocol == SessionProtocol.Http2ExtendedConnect ? "h2" : "http/1.1";
}
