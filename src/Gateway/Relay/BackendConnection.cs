namespace Gateway.Relay;

/// <summary>
/// A backend connection whose WebSocket upgrade the backend accepted, handed from the lean connector to the
/// session's relay: the transport (a socket stream, or TLS over one) and the bytes the backend sent right behind its
/// 101, which belong to the session and go to the client first.
/// </summary>
internal sealed class BackendConnection : IDisposable
{
    public BackendConnection(Stream transport, byte[]? early)
    {
        Transport = transport;
        Early = early;
    }

    public Stream Transport { get; }

    /// <summary>Session bytes that arrived in the same read as the 101's head; null when none did.</summary>
    public byte[]? Early { get; private set; }

    /// <summary>Hands the early bytes over once (the relay writes them to the client before anything else).</summary>
    public byte[]? TakeEarly()
    {
        var early = Early;
        Early = null;
        return early;
    }

    public void Dispose() => Transport.Dispose();
}
