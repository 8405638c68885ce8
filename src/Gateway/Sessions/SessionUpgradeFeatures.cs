using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Sessions;

/// <summary>
/// What the upgrade wrappers need to open a session once the client side has switched protocols. The
/// destination is chosen by the proxy after the wrappers are installed, hence the resolver.
/// </summary>
internal sealed class SessionUpgrade
{
    private readonly SessionRegistry _registry;
    private readonly HttpContext _context;
    private readonly string _routeId;
    private readonly string _clusterId;
    private readonly Func<HttpContext, string?> _destinationResolver;
    private readonly SessionProtocol _protocol;

    public SessionUpgrade(SessionRegistry registry, HttpContext context, string routeId, string clusterId, Func<HttpContext, string?> destinationResolver, SessionProtocol protocol)
    {
        _registry = registry;
        _context = context;
        _routeId = routeId;
        _clusterId = clusterId;
        _destinationResolver = destinationResolver;
        _protocol = protocol;
    }

    /// <summary>The session, once the upgrade has succeeded.</summary>
    public Session? Session { get; private set; }

    public HttpContext HttpContext => _context;

    public Stream Start(Stream transport)
    {
        var connection = _context.Connection;
        var session = _registry.Open(new SessionStartInfo(
            _routeId,
            _clusterId,
            _destinationResolver(_context),
            _context.Features.Get<IClientAddressFeature>()?.ClientAddress ?? connection.RemoteIpAddress,
            connection.RemotePort,
            _protocol));
        Session = session;
        return new SessionStream(transport, session, _registry.Metrics, _registry.TimeProvider);
    }
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
