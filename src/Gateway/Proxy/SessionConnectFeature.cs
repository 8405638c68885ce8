using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Proxy;

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
