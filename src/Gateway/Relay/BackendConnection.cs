namespace Gateway.Relay;

/// <summary>
/// A backend leg whose WebSocket upgrade the backend accepted, handed to the session's relay on the lean path: the
/// lean connector's connection (a socket stream, or TLS over one) with the bytes the backend sent right behind its
/// 101, which belong to the session and go to the client first; or an HTTP/2 stream of HttpClient's (RFC 8441).
/// </summary>
internal sealed class BackendConnection : IDisposable
{
    /// <param name="flushWrites">Writes must be flushed to reach the backend (HttpClient's HTTP/2 request stream buffers them).</param>
    public BackendConnection(Stream transport, byte[]? early, bool flushWrites = false)
    {
        Transport = transport;
        Early = early;
        FlushWrites = flushWrites;
    }

    public Stream Transport { get; }

    public bool FlushWrites { get; }

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
