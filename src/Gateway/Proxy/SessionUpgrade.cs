using Gateway.Relay;
using Gateway.Sessions;
using Gateway.Telemetry;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxy;

/// <summary>
/// What the upgrade wrappers need to open a session once the client side has switched protocols, and to judge
/// its end. The destination is chosen by the proxy after the wrappers are installed, hence the policy.
/// </summary>
/// <remarks>
/// A session takes one of two paths (docs/architecture.md). On the lean path (an HTTP/1.1 client on a listener with
/// the lean connection middleware, and a backend leg the lean connector opened) <see cref="Start"/> opens the
/// session, hands it with its backend connection to the client's <see cref="LeanConnection"/> and gives YARP an
/// empty stream: YARP's copy loop ends at once, the request completes, and the relay runs at the connection level.
/// On the YARP path it wraps the upgraded stream and YARP relays; this object is then the session's end handler.
/// </remarks>
internal sealed class SessionUpgrade : IRelayEndHandler, ISessionUpgradeFeature
{
    private readonly SessionRegistry _registry;
    private readonly HttpContext _context;
    private readonly string _routeId;
    private readonly ISessionRelayPolicy _policy;
    private readonly SessionProtocol _protocol;
    private readonly LeanConnection? _leanConnection;
    private readonly int _relayBufferSize;

    // Kestrel's own token: further in, the breaker swaps RequestAborted for one that also fires on a handshake timeout.
    private readonly CancellationToken _clientAborted;

    /// <param name="leanConnection">The client's connection if the session may take the lean path, else null.</param>
    public SessionUpgrade(SessionRegistry registry, HttpContext context, string routeId, ISessionRelayPolicy policy, SessionProtocol protocol,
        LeanConnection? leanConnection = null, int relayBufferSize = 0)
    {
        _registry = registry;
        _context = context;
        _clientAborted = context.RequestAborted;
        _routeId = routeId;
        _policy = policy;
        _protocol = protocol;
        _leanConnection = leanConnection;
        _relayBufferSize = relayBufferSize;
    }

    private Session? _session;
    private SessionStream? _stream;

    /// <summary>The session, once the upgrade has succeeded (read from other threads, e.g. the upgrade watch).</summary>
    public Session? Session => Volatile.Read(ref _session);

    /// <summary>Why the relay ended, once it has (YARP path).</summary>
    public SessionCloseReason? EndReason { get; private set; }

    public HttpContext HttpContext => _context;

    /// <summary>The backend agreed to <c>permessage-deflate</c>: clients may set RSV1 on a message's first frame.</summary>
    public bool Compressed { get; set; }

    /// <summary>The session may take the lean path: its backend leg goes to the lean connector if the cluster allows.</summary>
    public bool LeanEligible => _leanConnection is not null;

    /// <summary>The backend's 101 as the lean connector received it (set by <see cref="LeanUpgradeHandler"/>).</summary>
    public UpgradedBackendContent? LeanBackend { get; set; }

    /// <summary>The session on the lean path, once handed to its connection; null on the YARP path.</summary>
    public LeanSession? Lean { get; private set; }

    bool ISessionUpgradeFeature.OutlivesRequest => Lean is not null;

    void ISessionUpgradeFeature.OnEnded(ISessionEndListener listener) => Lean!.OnEnded(listener);

    public Stream Start(Stream transport)
    {
        var connection = _context.Connection;
        var target = _policy.TargetOf(_context);
        var session = _registry.Open(new SessionStartInfo(
            _routeId,
            target.ClusterId,
            target.DestinationId,
            _context.Features.Get<IClientAddressFeature>()?.ClientAddress ?? connection.RemoteIpAddress,
            connection.RemotePort,
            _protocol,
            target.Degraded,
            target.Policy,
            LeanBackend is not null ? SessionPath.Lean : SessionPath.Yarp,
            target.DestinationAddress));
        UpgradeTracing.Handshake(_context, session);
        if (LeanBackend?.Take() is { } backend)
        {
            // Kestrel has written the 101; the HTTP layer lets go of the connection when this request returns.
            var lean = new LeanSession(session, _registry, _policy, backend, Compressed, _relayBufferSize);
            _leanConnection!.Handover(lean);
            Lean = lean;
            Volatile.Write(ref _session, session);
            return Stream.Null;
        }

        var stream = new SessionStream(transport, session, _registry.Metrics, _registry.TimeProvider, this, Compressed);
        _stream = stream;
        Volatile.Write(ref _session, session);
        return stream;
    }

    /// <summary>Completes when the client transport is done with (see <see cref="SessionStream.Lingering"/>).</summary>
    public Task Lingering => _stream?.Lingering ?? Task.CompletedTask;

    /// <summary>Why the client's stream stopped being passed on (a refused frame), if it did.</summary>
    public string? RefusalReason => _stream?.RefusalReason;

    /// <summary>Wraps the backend leg YARP opened, so the gateway can close it with a frame of its own.</summary>
    /// <param name="relayToken">The token YARP relays with (its activity token).</param>
    public Stream WrapBackend(Stream backend, CancellationToken relayToken = default)
    {
        if (_stream is not { } stream)
        {
            return backend;
        }

        var wrapped = new BackendStream(backend, stream, relayToken);
        stream.AttachBackend(wrapped);
        return wrapped;
    }

    /// <summary>Judges the end once; the same answer serves the farewell frame and the close record (YARP path).</summary>
    public SessionCloseReason JudgeEnd(Session session)
        => EndReason ??= _policy.ReasonFor(session, FaultOf(_context.Features.Get<IForwarderErrorFeature>()?.Error));

    /// <summary>YARP's forwarder error in the relay's terms: which transport failed first.</summary>
    internal static RelayFault FaultOf(ForwarderError? error) => error switch
    {
        ForwarderError.UpgradeActivityTimeout => RelayFault.ActivityTimeout,
        // YARP's relay is cancelled when the client's connection is aborted.
        ForwarderError.UpgradeRequestClient or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeResponseCanceled => RelayFault.ClientRead,
        ForwarderError.UpgradeResponseClient => RelayFault.ClientWrite,
        ForwarderError.UpgradeRequestDestination => RelayFault.BackendWrite,
        ForwarderError.UpgradeResponseDestination => RelayFault.BackendRead,
        null or ForwarderError.None => RelayFault.None,
        _ => RelayFault.BackendRead,
    };

    ReadOnlyMemory<byte> IRelayEndHandler.OnRelayEnded(Session session, bool atFrameBoundary)
        => _policy.FarewellFor(session, JudgeEnd(session), atFrameBoundary);

    void IRelayEndHandler.AbortClient() => _context.Abort();

    bool IRelayEndHandler.ClientAborted => _clientAborted.IsCancellationRequested;
}
