using Gateway.Proxy;
using Gateway.Sessions;
using Microsoft.AspNetCore.Connections;

namespace Gateway.Relay;

/// <summary>
/// A session on the lean path once its handshake is done: what the request hands to its connection (the session,
/// the accepted backend connection, the rules to judge its end) and, when the HTTP layer has returned, the run of
/// its relay on the connection's transport, to the session's close in the registry. It is the session's end
/// handler, in the YARP path's place: the relay's own outcome instead of YARP's forwarder error, the connection's
/// abort instead of the request's.
/// </summary>
internal sealed class LeanSession : IRelayEndHandler
{
    private readonly Session _session;
    private readonly SessionRegistry _registry;
    private readonly ISessionRelayPolicy _policy;
    private readonly bool _compressed;
    private readonly int _bufferSize;
    private BackendConnection? _backend;
    private ConnectionContext? _connection;
    private ISessionEndListener? _first;
    private ISessionEndListener? _second;
    private RelayFault _fault;
    private SessionCloseReason? _reason;

    public LeanSession(Session session, SessionRegistry registry, ISessionRelayPolicy policy, BackendConnection backend, bool compressed, int bufferSize)
    {
        _session = session;
        _registry = registry;
        _policy = policy;
        _backend = backend;
        _compressed = compressed;
        _bufferSize = bufferSize;
    }

    public Session Session => _session;

    /// <summary>Adds what must be let go when the session ends (at most two: admission and the breaker).</summary>
    public void OnEnded(ISessionEndListener listener)
    {
        if (Interlocked.CompareExchange(ref _first, listener, null) is not null
            && Interlocked.CompareExchange(ref _second, listener, null) is not null)
        {
            throw new InvalidOperationException("A lean session has room for two end listeners.");
        }
    }

    /// <summary>Relays until the session is over, then closes it in the registry and lets go of what it held.</summary>
    public async Task RunAsync(ConnectionContext connection)
    {
        _connection = connection;
        var backendConnection = _backend!;
        _backend = null;
        SessionStream? client = null;
        try
        {
            var transport = connection.Transport;
            client = new SessionStream(new ConnectionTransportStream(transport), _session, _registry.Metrics, _registry.TimeProvider, this, _compressed);
            var backend = new BackendStream(backendConnection.Transport, client);
            client.AttachBackend(backend);
            try
            {
                _fault = await SessionRelay.RunAsync(client, backend, transport, backendConnection.TakeEarly(), _bufferSize).ConfigureAwait(false);
            }
            finally
            {
                // Backend leg first, then the client's (its farewell, or its linger after a go-away), as YARP disposes them.
                backend.Dispose();
                client.Dispose();
            }

            await client.Lingering.ConfigureAwait(false);
        }
        finally
        {
            backendConnection.Dispose();
            var reason = JudgeEnd(_session);
            _registry.Close(_session, reason, client?.RefusalReason ?? Describe(_fault));
            _first?.OnSessionEnded(_session, reason);
            _second?.OnSessionEnded(_session, reason);
            _first = _second = null;
            _connection = null;
        }
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
