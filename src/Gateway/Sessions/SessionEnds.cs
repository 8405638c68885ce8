using Gateway.Frames;

namespace Gateway.Sessions;

/// <summary>
/// Every way a session ends, in one table: the <c>reason</c> tag of <c>gateway_sessions_closed_total</c> and of the
/// logs, whom the gateway tells (<see cref="SessionCloseOrder"/>), and the close status and reason each side gets.
/// Nothing else in the gateway names a close code or a close reason for a session; <see cref="Session.BeginClose"/>
/// is the one way to start a close of the gateway's own.
/// </summary>
internal static class SessionEnds
{
    /// <summary>The client sent the first close frame; the backend's reply is relayed.</summary>
    public static readonly SessionEnd ClientClose = new(SessionCloseReason.ClientClose, "client_close", SessionCloseOrder.Peers, 0, "", 0, "");

    /// <summary>The backend sent the first close frame; the client's reply is relayed.</summary>
    public static readonly SessionEnd BackendClose = new(SessionCloseReason.BackendClose, "backend_close", SessionCloseOrder.Peers, 0, "", 0, "");

    /// <summary>No application message for the idle timeout (heartbeat tier 3), or no byte for YARP's activity timeout.</summary>
    public static readonly SessionEnd IdleTimeout = new(SessionCloseReason.IdleTimeout, "idle_timeout", SessionCloseOrder.Both, CloseFrame.GoingAway, "idle timeout", CloseFrame.GoingAway, "idle timeout");

    /// <summary>The client's connection ended without a close frame: the backend hears of it instead of finding out later.</summary>
    public static readonly SessionEnd ClientLost = new(SessionCloseReason.ClientLost, "client_lost", SessionCloseOrder.BackendOnly, 0, "", CloseFrame.GoingAway, "client went away");

    /// <summary>The backend's connection ended without a close frame: the client gets a close it can read, not a reset (1006).</summary>
    public static readonly SessionEnd BackendLost = new(SessionCloseReason.BackendLost, "backend_lost", SessionCloseOrder.ClientOnly, CloseFrame.InternalError, "backend connection lost", 0, "");

    /// <summary>As <see cref="BackendLost"/>, when its destination was being taken away (left the configuration, or failing its active health check).</summary>
    public static readonly SessionEnd BackendRestarting = new(SessionCloseReason.BackendLost, "backend_lost", SessionCloseOrder.ClientOnly, CloseFrame.ServiceRestart, "service restart", 0, "");

    /// <summary>The client stopped answering the gateway's pings (heartbeat tier 2).</summary>
    public static readonly SessionEnd HeartbeatTimeout = new(SessionCloseReason.HeartbeatTimeout, "heartbeat_timeout", SessionCloseOrder.Both, CloseFrame.GoingAway, "heartbeat timeout", CloseFrame.GoingAway, "heartbeat timeout", AbortAfterOneTick: true);

    /// <summary>Shed above the high watermark, coldest first (heartbeat tier 4): the client should back off before reconnecting.</summary>
    public static readonly SessionEnd Pressure = new(SessionCloseReason.Pressure, "pressure", SessionCloseOrder.Both, CloseFrame.TryAgainLater, "shed under load", CloseFrame.GoingAway, "shed under load");

    /// <summary>
    /// The client sent a frame RFC 6455 forbids; the rule it broke is the reason both sides read. The backend is told
    /// first and its answers to the frames before the refused one still reach the client, then the gateway's 1002.
    /// </summary>
    public static readonly SessionEnd ProtocolError = new(SessionCloseReason.ProtocolError, "protocol_error", SessionCloseOrder.BackendThenClient, CloseFrame.ProtocolError, "", CloseFrame.GoingAway, "");

    /// <summary>The client sent a frame or message over the route's limit; told as a protocol error is.</summary>
    public static readonly SessionEnd MessageTooBig = new(SessionCloseReason.MessageTooBig, "message_too_big", SessionCloseOrder.BackendThenClient, CloseFrame.MessageTooBig, "", CloseFrame.GoingAway, "");

    /// <summary>The gateway is shutting down (the drain): the backend is told first, the client gets its answer.</summary>
    public static readonly SessionEnd Drain = new(SessionCloseReason.Drain, "drain", SessionCloseOrder.BackendFirst, CloseFrame.GoingAway, "going away", CloseFrame.GoingAway, "going away");

    /// <summary>
    /// The backend stopped taking the client's bytes (heartbeat, at the pong timeout): the client learns the backend is
    /// at fault; the backend's close cannot get past the bytes it does not read, so the connection goes a tick later.
    /// </summary>
    public static readonly SessionEnd BackendStalled = new(SessionCloseReason.BackendStalled, "backend_stalled", SessionCloseOrder.Both, CloseFrame.InternalError, "backend not reading", CloseFrame.GoingAway, "backend not reading", AbortAfterOneTick: true);

    /// <summary>
    /// The session's destination left the configuration (<c>Drain/DestinationDrain</c>): as the pod drain, the backend
    /// first and its answer through, but the client hears the gateway's 1012 in place of the backend's close: the
    /// service restarts elsewhere, reconnect (to another destination).
    /// </summary>
    public static readonly SessionEnd DestinationDrain = new(SessionCloseReason.DestinationDrain, "destination_drain", SessionCloseOrder.BackendFirstThenClient, CloseFrame.ServiceRestart, "service restart", CloseFrame.GoingAway, "going away");

    /// <summary>
    /// An operator's close (the management API) with the default status; <see cref="ByOperator"/> makes the row with the
    /// status and reason asked for. As the destination drain: the backend first (1001, it should let go of the client),
    /// its answer through, then the client gets the operator's close in place of the backend's.
    /// </summary>
    public static readonly SessionEnd Operator = new(SessionCloseReason.Operator, "operator", SessionCloseOrder.BackendFirstThenClient, CloseFrame.NormalClosure, OperatorText, CloseFrame.GoingAway, OperatorText);

    /// <summary>The reason both sides read when the operator gives none.</summary>
    public const string OperatorText = "closed by operator";

    private static readonly SessionEnd[] ByReason = Build();

    /// <summary>
    /// The row of an operator's close with <paramref name="clientStatus"/> and <paramref name="clientText"/> for the client
    /// (checked by the caller: <see cref="CloseFrame.MaySend"/>, at most 123 bytes); one row for every session it closes.
    /// </summary>
    public static SessionEnd ByOperator(int clientStatus, string? clientText)
        => new(SessionCloseReason.Operator, Operator.Tag, Operator.Order, clientStatus, string.IsNullOrEmpty(clientText) ? OperatorText : clientText, Operator.BackendStatus, Operator.BackendText);

    /// <summary>The row of <paramref name="reason"/>.</summary>
    public static SessionEnd Of(SessionCloseReason reason) => ByReason[(int)reason];

    /// <summary>The <c>reason</c> tag of metrics and logs.</summary>
    public static string ToTagValue(this SessionCloseReason reason) => Of(reason).Tag;

    private static SessionEnd[] Build()
    {
        SessionEnd[] rows = [ClientClose, BackendClose, IdleTimeout, ClientLost, BackendLost, HeartbeatTimeout, Pressure, ProtocolError, MessageTooBig, Drain, BackendStalled, DestinationDrain, Operator];
        var table = new SessionEnd[rows.Length];
        foreach (var row in rows)
        {
            table[(int)row.Reason] = row;
        }

        return table;
    }
}
