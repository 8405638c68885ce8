using System.Net;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Gateway.Proxy;

/// <summary>
/// On every route: marks the upgrade requests whose session may take the lean path for the lean connector
/// (<see cref="LeanUpgradeHandler"/>); and when a backend accepts a WebSocket (101, or 200 to an HTTP/2 extended CONNECT), hands the
/// backend leg YARP is about to open to the session (<see cref="SessionUpgrade.WrapBackend"/>), so the gateway
/// can send the backend a close frame of its own, and notes whether <c>permessage-deflate</c> was agreed (RSV1
/// is then legal on client frames). YARP runs response transforms after copying the headers and before it
/// opens the upgraded streams, which makes this the one place both are in reach.
/// </summary>
internal sealed class BackendLegTransform : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        // After the route's own request transforms: the lean connector sends the request exactly as they left it.
        context.AddRequestTransform(static transform =>
        {
            // An HTTP/2 leg stays with SocketsHttpHandler (many sessions share a connection): only HTTP/1.1 legs
            // go to the lean connector. The request keeps no reference to the session otherwise: HttpClient holds an
            // HTTP/2 stream's request for the stream's life.
            if (transform.ProxyRequest.Version == HttpVersion.Version11
                && transform.HttpContext.Features.Get<SessionUpgrade>() is { LeanEligible: true } upgrade)
            {
                transform.ProxyRequest.Options.Set(LeanUpgradeHandler.SessionKey, upgrade);
            }

            return default;
        });
        context.AddResponseTransform(static async transform =>
        {
            var response = transform.ProxyResponse;
            if (response is null || transform.HttpContext.Features.Get<SessionUpgrade>() is not { } upgrade || !IsAccepted(response))
            {
                return;
            }

            if (response.Headers.TryGetValues("Sec-WebSocket-Extensions", out var extensions))
            {
                upgrade.Compressed = extensions.Any(value => value.Contains("permessage-deflate", StringComparison.OrdinalIgnoreCase));
            }

            if (response.Content is UpgradedBackendContent)
            {
                // The lean connector's 101: the session's relay takes the connection.
                return;
            }

            if (upgrade.LeanEligible && response.Version == HttpVersion.Version20)
            {
                // An HTTP/2 leg (RFC 8441) under a session that leaves its request: the relay takes HttpClient's
                // stream; YARP gets an empty one. The stream's original content is not disposed: that would reset it.
                var stream = await response.Content.ReadAsStreamAsync(transform.CancellationToken);
                var accepted = new UpgradedBackendContent(new Relay.BackendConnection(stream, early: null, flushWrites: true));
                response.Content = accepted;
                upgrade.LeanBackend = accepted;
                // HttpClient keeps the stream's request and response messages for the session's life; their headers
                // (copied to the client's answer already, and sent to the backend) need not stay with them.
                response.Headers.Clear();
                response.RequestMessage?.Headers.Clear();
                return;
            }

            // The YARP path: YARP relays between this leg and the client's.
            response.Content = new BackendLegContent(response.Content, upgrade);
        });
    }

    private static bool IsAccepted(HttpResponseMessage response)
        => response.StatusCode == HttpStatusCode.SwitchingProtocols
            || (response.StatusCode == HttpStatusCode.OK && response.Version == HttpVersion.Version20
                && response.RequestMessage?.Method == HttpMethod.Connect);

    /// <summary>The backend's content, whose stream comes out wrapped.</summary>
    private sealed class BackendLegContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly SessionUpgrade _upgrade;

        // No headers are copied: YARP has already copied the response's headers to the client when transforms
        // run, and reading the inner content's would allocate its header collection for every session.
        public BackendLegContent(HttpContent inner, SessionUpgrade upgrade)
        {
            _inner = inner;
            _upgrade = upgrade;
        }

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
            => _upgrade.WrapBackend(await _inner.ReadAsStreamAsync(cancellationToken), cancellationToken);

        protected override async Task<Stream> CreateContentReadStreamAsync()
            => _upgrade.WrapBackend(await _inner.ReadAsStreamAsync());

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
            => _inner.CopyToAsync(stream, context);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
            => _inner.CopyToAsync(stream, context, cancellationToken);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
