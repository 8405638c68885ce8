using System.Net;

namespace Gateway.Proxy;

/// <summary>
/// The outermost handler of every cluster's backend client: an HTTP/1.1 WebSocket upgrade whose session may take the
/// lean path (see <see cref="SessionUpgrade.LeanEligible"/>) goes to the <see cref="Http11UpgradeClient"/>; everything
/// else (plain requests, HTTP/2 extended CONNECT, clusters the lean connector cannot serve) to SocketsHttpHandler.
/// </summary>
internal sealed class LeanUpgradeHandler : DelegatingHandler
{
    /// <summary>Set by <see cref="BackendLegTransform"/> on requests whose session may take the lean path.</summary>
    public static readonly HttpRequestOptionsKey<SessionUpgrade> SessionKey = new("Gateway.LeanSession");

    private readonly Http11UpgradeClient? _client;

    /// <param name="client">Null when the cluster's settings need HttpClient (a web proxy, a connection limit).</param>
    public LeanUpgradeHandler(HttpMessageHandler inner, Http11UpgradeClient? client)
        : base(inner)
    {
        _client = client;
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (_client is null || request.Version != HttpVersion.Version11 || !request.Options.TryGetValue(SessionKey, out var upgrade))
        {
            return base.SendAsync(request, cancellationToken);
        }

        return SendLeanAsync(_client, request, upgrade, cancellationToken);
    }

    private static async Task<HttpResponseMessage> SendLeanAsync(Http11UpgradeClient client, HttpRequestMessage request, SessionUpgrade upgrade, CancellationToken cancellationToken)
    {
        var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.Content is UpgradedBackendContent accepted)
        {
            upgrade.LeanBackend = accepted;
        }

        return response;
    }
}
