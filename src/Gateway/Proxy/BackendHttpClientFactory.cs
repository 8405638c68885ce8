using System.Diagnostics.Metrics;
using System.Net.Sockets;
using Gateway.Hosting;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxy;

/// <summary>
/// YARP's client factory with the settings long-lived sessions need: a short connect timeout, TCP keepalive
/// on every backend socket, and HTTP/2 PINGs so a dead multiplexed backend connection is noticed. WebSocket
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
        handler.ConnectCallback = (connection, cancellationToken) => ConnectAsync(connection, keepAlive, cancellationToken);
    }

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler)
        => new SessionHandshakeHandler(base.WrapHandler(context, handler));

    // The cluster's client is rebuilt on config change; keepalive settings are read when it is built.
    protected override bool CanReuseOldClient(ForwarderHttpClientContext context) => false;

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, TcpKeepAliveOptions keepAlive, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            keepAlive.Apply(socket);
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
