namespace Gateway.Proxy;

/// <summary>
/// Keeps the relay's cancellation away from HttpClient once an HTTP/2 backend has accepted a WebSocket (RFC 8441).
/// HttpClient holds the token given to <c>SendAsync</c> for as long as an extended CONNECT stream is open and
/// resets the stream (RST_STREAM) the moment it fires; YARP passes its activity token, which fires when the
/// client's connection is aborted. The backend would then see a reset where the close 1001 "client went away"
/// belongs, or a reset that overtakes that close. So HttpClient gets a token of its own that follows YARP's during
/// the handshake only (a handshake timeout or a client leaving mid-handshake still cancels it); after that the
/// backend leg (<see cref="Relay.BackendStream"/>) watches the relay's token and ends the stream itself, after
/// the gateway's close.
/// </summary>
internal sealed class SessionHandshakeHandler : DelegatingHandler
{
    public SessionHandshakeHandler(HttpMessageHandler inner)
        : base(inner)
    {
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Method != HttpMethod.Connect || request.Headers.Protocol is null || !cancellationToken.CanBeCanceled)
        {
            return base.SendAsync(request, cancellationToken);
        }

        return SendExtendedConnectAsync(request, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendExtendedConnectAsync(HttpRequestMessage request, CancellationToken relayToken)
    {
        // One small source per HTTP/2 session, for its lifetime (HttpClient keeps a registration on it); never
        // cancelled once the handshake is over, so it needs no disposing.
        var handshake = new CancellationTokenSource();
        using (relayToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), handshake))
        {
            return await base.SendAsync(request, handshake.Token).ConfigureAwait(false);
        }
    }
}
