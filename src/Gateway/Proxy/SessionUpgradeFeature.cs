using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Proxy;

/// <summary>Wraps Kestrel's HTTP/1.1 upgrade so the upgraded stream is a <see cref="Relay.SessionStream"/>.</summary>
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
