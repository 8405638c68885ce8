namespace Gateway.Balancing;

/// <summary>Where <see cref="ConsistentHashPolicy"/> reads a session's key.</summary>
internal enum HashKeySource
{
    /// <summary>The client's address as admission control established it (a trusted proxy's header, or the TCP peer).</summary>
    Client,

    /// <summary>A request header's first value.</summary>
    Header,

    /// <summary>A query-string parameter's first value.</summary>
    Query,

    /// <summary>A value the route's path pattern captured (<c>/rooms/{room}</c>).</summary>
    Route,

    /// <summary>A cookie.</summary>
    Cookie,
}
