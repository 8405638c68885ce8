namespace Gateway.Sessions;

/// <summary>How the client opened its WebSocket.</summary>
internal enum SessionProtocol : byte
{
    /// <summary>HTTP/1.1 <c>Upgrade: websocket</c> (RFC 6455).</summary>
    Http11Upgrade,

    /// <summary>HTTP/2 extended CONNECT with <c>:protocol = websocket</c> (RFC 8441).</summary>
    Http2ExtendedConnect,
}
