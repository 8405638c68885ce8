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
    ReadOnlyMemory<byte> FarewellFor(HttpContext context, Session session, SessionCloseReason reason);
}

internal readonly record struct SessionTarget(string ClusterId, string? DestinationId, bool Degraded);

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

    public SessionUpgrade(SessionRegistry registry, HttpContext context, string routeId, ISessionRelayPolicy policy, SessionProtocol protocol)
    {
        _registry = registry;
        _context = context;
        _routeId = routeId;
        _policy = policy;
        _protocol = protocol;
    }

    private Session? _session;

    /// <summary>The session, once the upgrade has succeeded (read from other threads, e.g. the upgrade watch).</summary>
    public Session? Session => Volatile.Read(ref _session);

    /// <summary>Why the relay ended, once it has.</summary>
    public SessionCloseReason? EndReason { get; private set; }

    public HttpContext HttpContext => _context;

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
            target.Degraded));
        Volatile.Write(ref _session, session);
        return new SessionStream(transport, session, _registry.Metrics, _registry.TimeProvider, this);
    }

    /// <summary>Judges the end once; the same answer serves the farewell frame and the close record.</summary>
    public SessionCloseReason JudgeEnd(Session session) => EndReason ??= _policy.ReasonFor(_context, session);

    ReadOnlyMemory<byte> IRelayEndHandler.OnRelayEnded(Session session)
        => _policy.FarewellFor(_context, session, JudgeEnd(session));
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
