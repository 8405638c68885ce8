namespace Gateway.Sessions;

/// <summary>Whom the gateway tells that a session is over, and in which order (a column of <see cref="SessionEnds"/>).</summary>
internal enum SessionCloseOrder : byte
{
    /// <summary>Nobody: a peer ended it, and the close frames it sent are relayed as they are.</summary>
    Peers,

    /// <summary>Both at once, each at its stream's next frame boundary: the client its close, the backend 1001.</summary>
    Both,

    /// <summary>
    /// The backend first: the client's stream stops at a frame boundary and the backend gets its close; the
    /// backend's answer (what it still had to send, then its close) reaches the client as usual, and the client gets
    /// the gateway's own close only if the backend ends without one.
    /// </summary>
    BackendFirst,

    /// <summary>
    /// The backend first, the client after it with the gateway's own close: the client's stream has stopped (a frame
    /// was refused) and the backend gets its close; what the backend still sends before its close frame reaches the
    /// client (nothing it had already answered is lost), and in place of the backend's close frame the client gets
    /// the gateway's, which says why. Also when the backend ends without a close, or the close timeout passes first.
    /// </summary>
    BackendThenClient,

    /// <summary>
    /// As <see cref="BackendFirst"/> (the client's stream stops at its next frame boundary, the backend gets its close,
    /// and what the backend still sends reaches the client), but in place of the backend's close frame the client gets
    /// the gateway's, which says why (as in <see cref="BackendThenClient"/>): a destination drain's 1012.
    /// </summary>
    BackendFirstThenClient,

    /// <summary>The backend only: the client is gone.</summary>
    BackendOnly,

    /// <summary>The client only, once the relay has stopped: the backend is gone.</summary>
    ClientOnly,
}
