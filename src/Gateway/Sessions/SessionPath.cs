namespace Gateway.Sessions;

/// <summary>Where a session's relay runs after its handshake; the <c>path</c> label of the session metrics.</summary>
internal enum SessionPath : byte
{
    /// <summary>Inside the HTTP request: YARP's copy loop between Kestrel's upgraded stream and HttpClient's.</summary>
    Yarp,

    /// <summary>At the connection level, after the request completed: the gateway's own relay (docs/architecture.md).</summary>
    Lean,
}
