using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxy;

/// <summary>
/// YARP's client factory with the settings long-lived sessions need: a short connect timeout, TCP keepalive
/// and capped buffers on every backend socket, and HTTP/2 PINGs so a dead multiplexed backend connection is noticed. WebSocket
/// handshakes over HTTP/2 go through <see cref="SessionHandshakeHandler"/>.
/// </summary>
internal sealed class BackendHttpClientFactory : ForwarderHttpClientFactory
{
    private readonly IOptionsMonitor<ProxyOptions> _options;

    private readonly IMeterFactory _meterFactory;

    public BackendHttpClientFactory(IOptionsMonitor<ProxyOptions> options, IMeterFactory meterFactory, ILogger<ForwarderHttpClientFactory> logger)
        : base(logger)
    {
        _options = options;
        _meterFactory = meterFactory;
    }

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        var options = _options.CurrentValue;
        handler.ConnectTimeout = options.ConnectTimeout;
        handler.KeepAlivePingDelay = options.Http2KeepAlivePingDelay;
        handler.KeepAlivePingTimeout = options.Http2KeepAlivePingTimeout;
        handler.KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests;
        // http.client.* metrics (backend connections, queueing) belong to this gateway's meters.
        handler.MeterFactory = _meterFactory;
        var keepAlive = options.TcpKeepAlive;
        var buffers = options.SocketBuffers;
        // SocketsHttpHandler still bounds the callback with ConnectTimeout (its cancellation token carries it).
        handler.ConnectCallback = (connection, cancellationToken) => BackendSockets.ConnectAsync(connection.DnsEndPoint, keepAlive, buffers, cancellationToken);
    }

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler)
        => new LeanUpgradeHandler(new SessionHandshakeHandler(base.WrapHandler(context, handler)), LeanClientFor(context, handler));

    /// <summary>
    /// The lean connector with the cluster's client settings, or null where it cannot stand in for SocketsHttpHandler:
    /// a web proxy (it does not tunnel through one) or a connection limit per server (it does not queue).
    /// </summary>
    private Http11UpgradeClient? LeanClientFor(ForwarderHttpClientContext context, HttpMessageHandler handler)
    {
        var config = context.NewConfig;
        if (config.WebProxy?.Address is not null || config.MaxConnectionsPerServer is not null)
        {
            return null;
        }

        var options = _options.CurrentValue;
        return new Http11UpgradeClient(
            options.ConnectTimeout,
            options.TcpKeepAlive,
            options.SocketBuffers,
            config.SslProtocols ?? System.Security.Authentication.SslProtocols.None,
            config.DangerousAcceptAnyServerCertificate ?? false,
            (handler as SocketsHttpHandler)?.MaxResponseHeadersLength * 1024 ?? 64 * 1024,
            config.RequestHeaderEncoding is { } request ? System.Text.Encoding.GetEncoding(request) : null,
            config.ResponseHeaderEncoding is { } response ? System.Text.Encoding.GetEncoding(response) : null);
    }

    // The cluster's client is rebuilt on config change; keepalive settings are read when it is built.
    protected override bool CanReuseOldClient(ForwarderHttpClientContext context) => false;
}
