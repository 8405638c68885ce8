using Gateway.Sessions;
using Microsoft.AspNetCore.Connections;

namespace Gateway.Relay;

/// <summary>
/// A session on the lean path once its handshake is done: what the request hands to its connection (the session,
/// the accepted backend connection, the rules to judge its end) and, when the HTTP layer has returned, the session's
/// relay on the connection's transport (<c>LeanSession.Relay.cs</c>), to its close in the registry. It is the
/// session's end handler in the YARP path's place: the relay's own outcome instead of YARP's forwarder error, the
/// connection's abort instead of the request's.
/// </summary>
internal sealed partial class LeanSession : IRelayEndHandler
{
    private readonly Session _session;
    private readonly SessionRegistry _registry;
    private readonly ISessionEndPolicy _policy;
    private readonly bool _compressed;
    private readonly int _bufferSize;
    private BackendConnection? _backend;
    private ConnectionContext? _connection;
    private ISessionEndListener? _listener;
    private RelayFault _fault;
    private SessionCloseReason? _reason;

    public LeanSession(Session session, SessionRegistry registry, ISessionEndPolicy policy, BackendConnection backend, bool compressed, int bufferSize)
    {
        _session = session;
        _registry = registry;
        _policy = policy;
        _backend = backend;
        _compressed = compressed;
        _bufferSize = bufferSize;
    }

    public Session Session => _session;

    /// <summary>Lets go of <paramref name="listener"/> when the session ends (the admission slot: one is all there is).</summary>
    public void OnEnded(ISessionEndListener listener)
    {
        if (Interlocked.CompareExchange(ref _listener, listener, null) is not null)
        {
            throw new InvalidOperationException("A lean session has room for one end listener.");
        }
    }

    private void End(SessionStream? client)
    {
        var reason = JudgeEnd(_session);
        _registry.Close(_session, reason, client?.RefusalReason ?? Describe(_fault));
        Interlocked.Exchange(ref _listener, null)?.OnSessionEnded(_session, reason);
        _connection = null;
    }

    private SessionCloseReason JudgeEnd(Session session) => _reason ??= _policy.ReasonFor(session, _fault);

    ReadOnlyMemory<byte> IRelayEndHandler.OnRelayEnded(Session session, bool atFrameBoundary)
        => _policy.FarewellFor(session, JudgeEnd(session), atFrameBoundary);

    void IRelayEndHandler.AbortClient() => _connection?.Abort(new ConnectionAbortedException("The gateway aborted the session."));

    bool IRelayEndHandler.ClientAborted => _connection?.ConnectionClosed.IsCancellationRequested == true;

    private static string? Describe(RelayFault fault) => fault switch
    {
        RelayFault.None => null,
        RelayFault.ClientRead => "reading from the client failed",
        RelayFault.ClientWrite => "writing to the client failed",
        RelayFault.BackendRead => "reading from the backend failed",
        RelayFault.BackendWrite => "writing to the backend failed",
        _ => fault.ToString(),
    };
}
