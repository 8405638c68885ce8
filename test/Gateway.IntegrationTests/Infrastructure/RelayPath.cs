namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// Where the gateway relays an HTTP/1.1 client's session after its handshake. Tests of a session's behaviour run on
/// each, since each has its own relay and its own judgement of how a session ended.
/// </summary>
public enum RelayPath
{
    /// <summary>The lean path over an HTTP/1.1 backend leg: the gateway's own loop, at the connection level, to the lean connector's socket.</summary>
    Lean,

    /// <summary>The lean path over an HTTP/2 backend leg: the gateway's own loop to a stream of HttpClient's shared connection.</summary>
    LeanHttp2Leg,

    /// <summary>YARP's copy loop inside the request (the lean path switched off), over an HTTP/2 leg where the backend speaks it.</summary>
    Yarp,
}
