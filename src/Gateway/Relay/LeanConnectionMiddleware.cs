using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Gateway.Relay;

/// <summary>
/// Connection middleware of the public listener (above TLS, below Kestrel's HTTP layer): lets the HTTP layer do
/// the handshake as usual, and when it returns after a session was handed over (see <see cref="LeanConnection"/>),
/// runs the session's relay on the connection's own transport until the session ends. Kestrel's HTTP/1.1
/// connection, the request, its <c>HttpContext</c> and everything the middleware pipeline held are garbage by then.
/// HTTP/2 connections (ALPN h2) pass through untouched: their sessions are streams of a shared connection.
/// </summary>
internal static class LeanConnectionMiddleware
{
    private static ReadOnlySpan<byte> Http2 => "h2"u8;

    /// <param name="gate">Whose first-byte deadline a cleartext connection waits under (with TLS the handshake has passed).</param>
    public static ConnectionDelegate Create(ConnectionDelegate next, Connections.ConnectionGate? gate = null) => connection =>
    {
        var tls = connection.Features.Get<ITlsApplicationProtocolFeature>();
        return tls?.ApplicationProtocol.Span.SequenceEqual(Http2) == true
            ? next(connection)
            : LeanSession.ServeAsync(connection, next, tls is null ? gate : null);
    };
}
