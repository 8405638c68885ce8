using Microsoft.AspNetCore.Connections;

namespace Gateway.Connections;

/// <summary>
/// The first connection middleware of the public listeners (below TLS): a connection over the cap is closed at once
/// (no TLS handshake, no HTTP); one let in is counted out when it closes, whatever ends it.
/// </summary>
/// <remarks>
/// Counted out by a registration on Kestrel's connection-closed token rather than by awaiting the rest of the
/// pipeline: an async frame held for a session's whole life would cost more than the registration's node. The
/// first-byte deadline is kept where a connection is already awaited: the lean path's connection middleware for
/// cleartext HTTP/1.1 (<see cref="Relay.LeanSession"/>), Kestrel's TLS handshake timeout for TLS, and here for h2c
/// connections (<c>waitForFirstByte</c>; few, each carrying many sessions).
/// </remarks>
internal static class ConnectionGateMiddleware
{
    public static Func<ConnectionDelegate, ConnectionDelegate> For(ConnectionGate gate, bool waitForFirstByte) => next => connection =>
    {
        if (!gate.TryEnter())
        {
            connection.Abort(new ConnectionAbortedException("Client connection cap reached."));
            return Task.CompletedTask;
        }

        connection.ConnectionClosed.UnsafeRegister(static state => ((ConnectionGate)state!).Exit(), gate);
        return waitForFirstByte ? WaitForFirstByteAsync(gate, connection, next) : next(connection);
    };

    private static async Task WaitForFirstByteAsync(ConnectionGate gate, ConnectionContext connection, ConnectionDelegate next)
    {
        if (await gate.AdmitFirstByteAsync(connection).ConfigureAwait(false))
        {
            await next(connection).ConfigureAwait(false);
        }
    }
}
