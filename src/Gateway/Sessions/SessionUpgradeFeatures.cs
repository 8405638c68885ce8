using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Sessions;

/// <summary>Where a session goes and how its end is judged; supplied by the proxy layer.</summary>
internal interface ISessionRelayPolicy
{
    /// <summary>The cluster and destination the proxy chose, read when the upgrade succeeds.</summary>
    SessionTarget TargetOf(HttpContext context);

    /// <summary>Why the relay ended, from the session's close frames and the proxy's outcome.</summary>
    SessionCloseReason ReasonFor(HttpContext context, Session session);

    /// <summary>A last frame for the client once the relay has stopped, or empty.</summary>
    /// <param name="atFrameBoundary">The stream to the client ends between two frames.</param>
    ReadOnlyMemory<byte> FarewellFor(HttpContext context, Session session, SessionCloseReason reason, bool atFrameBoundary);
}

internal readonly record struct SessionTarget(string ClusterId, string? DestinationId, bool Degraded, SessionRoutePolicy? Policy = null);

/// <summary>
/// What the upgrade wrappers need to open a session once the client side has switched protocols, and to judge
/// its end. The destination is chosen by the proxy after the wrappers are installed, hence the policy.
/// </summary>
internal sealed class SessionUpgrade : IRelayEndHandler
{
    private readonly SessionRegistry _registry;
    private readonly HttpContext _context;
    private readonly string _routeId;
    private readonly ISessionRelayPolicy _policy;
    private readonly SessionProtocol _protocol;

    // Kestrel's own token: further in, the breaker swaps RequestAborted for one that also fires on a handshake timeout.
    private readonly CancellationToken _clientAborted;

    public SessionUpgrade(SessionRegistry registry, HttpContext context, string routeId, ISessionRelayPolicy policy, SessionProtocol protocol)
    {
        _registry = registry;
        _context = context;
        _clientAborted = context.RequestAborted;
        _routeId = routeId;
        _policy = policy;
        _protocol = protocol;
    }

    private Session? _session;
    private SessionStream? _stream;

    /// <summary>The session, once the upgrade has succeeded (read from other threads, e.g. the upgrade watch).</summary>
    public Session? Session => Volatile.Read(ref _session);

    /// <summary>Why the relay ended, once it has.</summary>
    public SessionCloseReason? EndReason { get; private set; }

    public HttpContext HttpContext => _context;

    /// <summary>The backend agreed to <c>permessage-deflate</c>: clients may set RSV1 on a message's first frame.</summary>
    public bool Compressed { get; set; }

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
            target.Policy));
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

    /// <summary>Judges the end once; the same answer serves the farewell frame and the close record.</summary>
    public SessionCloseReason JudgeEnd(Session session) => EndReason ??= _policy.ReasonFor(_context, session);

    ReadOnlyMemory<byte> IRelayEndHandler.OnRelayEnded(Session session, bool atFrameBoundary)
        => _policy.FarewellFor(_context, session, JudgeEnd(session), atFrameBoundary);

    void IRelayEndHandler.AbortClient() => _context.Abort();

    bool IRelayEndHandler.ClientAborted => _clientAborted.IsCancellationRequested;
}

/// <summary>Wraps Kestrel's HTTP/1.1 upgrade so the upgraded stream is a <see cref="SessionStream"/>.</summary>
internal sealed class SessionUpgradeFeature : IHttpUpgradeFeature
{
    private readonly SessionUpgrade _upgrade;

    public SessionUpgradeFeature(IHttpUpgradeFeature inner, SessionUpgrade upgrade)
    {
        Inner = inner;
        _upgrade = upgrade;
    }

    public IHttpUpgradeFeature Inner { get; }

    public bool IsUpgradableRequest => Inner.IsUpgradableRequest;

    public async Task<Stream> UpgradeAsync() => _upgrade.Start(await Inner.UpgradeAsync());
}

/// <summary>Wraps Kestrel's HTTP/2 extended CONNECT (RFC 8441) the same way.</summary>
internal sealed class SessionConnectFeature : IHttpExtendedConnectFeature
{
    private readonly SessionUpgrade _upgrade;

    public SessionConnectFeature(IHttpExtendedConnectFeature inner, SessionUpgrade upgrade)
    {
        Inner = inner;
        _upgrade = upgrade;
    }

    public IHttpExtendedConnectFeature Inner { get; }

    public bool IsExtendedConnect => Inner.IsExtendedConnect;

    public string? Protocol => Inner.Protocol;

    public async ValueTask<Stream> AcceptAsync() => _upgrade.Start(await Inner.AcceptAsync());
}
