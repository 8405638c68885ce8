using System.Security.Authentication;
using System.Net.Security;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>Kestrel's listeners, limits and socket options from <see cref="ServerOptions"/>.</summary>
internal sealed class KestrelSetup : IConfigureOptions<KestrelServerOptions>, IConfigureOptions<SocketTransportOptions>, IDisposable
{
    private readonly IOptions<ServerOptions> _options;
    private readonly GatewayListeners _listeners;
    private readonly TimeProvider _timeProvider;
    private readonly ILoggerFactory _loggerFactory;
    private readonly Connections.ConnectionGate _gate;
    private CertificateReloader? _certificate;

    public KestrelSetup(IOptions<ServerOptions> options, GatewayListeners listeners, TimeProvider timeProvider, ILoggerFactory loggerFactory, Connections.ConnectionGate gate)
    {
        _gate = gate;
        _options = options;
        _listeners = listeners;
        _timeProvider = timeProvider;
        _loggerFactory = loggerFactory;
    }

    public void Dispose() => _certificate?.Dispose();

    public void Configure(KestrelServerOptions kestrel)
    {
        if (!TryGetOptions(out var options))
        {
            return;
        }

        kestrel.AddServerHeader = false;

        var limits = kestrel.Limits;
        limits.MaxRequestHeadersTotalSize = options.Limits.MaxRequestHeadersTotalSize;
        limits.MaxRequestLineSize = options.Limits.MaxRequestLineSize;
        limits.MaxRequestHeaderCount = options.Limits.MaxRequestHeaderCount;
        limits.RequestHeadersTimeout = options.Limits.RequestHeadersTimeout;
        limits.KeepAliveTimeout = options.Limits.KeepAliveTimeout;
        limits.Http2.MaxStreamsPerConnection = options.Limits.MaxStreamsPerConnection;
        // What one connection may make the gateway hold, each way (a stalled backend, a slow client): then backpressure.
        var buffered = options.Limits.MaxConnectionBufferSize;
        limits.MaxRequestBufferSize = buffered;
        limits.MaxResponseBufferSize = buffered;
        limits.Http2.InitialStreamWindowSize = Math.Max(buffered, Http2InitialWindow);
        // MaxConcurrentConnections and MaxConcurrentUpgradedConnections stay unlimited: Kestrel checks the
        // upgrade limit only after the backend has accepted, so admission control decides before YARP instead.

        kestrel.Listen(options.Public.ParsedAddress, options.Public.Port, listener =>
        {
            // With TLS, ALPN picks HTTP/1.1 or h2. Cleartext HTTP/2 cannot share a port with HTTP/1.1 in
            // Kestrel; it gets its own listener (PublicH2c).
            listener.Protocols = options.Public.Tls is null ? HttpProtocols.Http1 : HttpProtocols.Http1AndHttp2;
            // First, below TLS: the connection cap and the first-byte deadline cost no handshake.
            // (Its first-byte deadline: the lean path's middleware in cleartext, Kestrel's handshake timeout with TLS.)
            listener.Use(Connections.ConnectionGateMiddleware.For(_gate, waitForFirstByte: false));
            if (options.Public.Tls is { } tls)
            {
                // TLS 1.2+ only; the certificate of each handshake is the reloader's current one.
                _certificate?.Dispose();
                var certificate = _certificate = new CertificateReloader(tls, _timeProvider, _loggerFactory.CreateLogger<CertificateReloader>());
                listener.UseHttps(new TlsHandshakeCallbackOptions
                {
                    OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = certificate.Current,
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    }),
                });
            }

            // Above TLS, below the HTTP layer: sessions leave their request after the handshake (the lean path).
            var gate = _gate;
            listener.Use(next => Relay.LeanConnectionMiddleware.Create(next, gate));
            _listeners.SetPublic(listener, options.Public.Tls is not null);
        });

        if (options.PublicH2c is { } h2c)
        {
            kestrel.Listen(h2c.ParsedAddress, h2c.Port, listener =>
            {
                listener.Protocols = HttpProtocols.Http2;
                listener.Use(Connections.ConnectionGateMiddleware.For(_gate, waitForFirstByte: true));
                _listeners.SetPublicH2c(listener);
            });
        }

        kestrel.Listen(options.Management.ParsedAddress, options.Management.Port, listener =>
        {
            listener.Protocols = HttpProtocols.Http1;
            _listeners.SetManagement(listener);
        });
    }

    public void Configure(SocketTransportOptions transport)
    {
        if (!TryGetOptions(out var options))
        {
            return;
        }

        transport.Backlog = options.ListenBacklog;
        transport.MaxReadBufferSize = options.Limits.MaxConnectionBufferSize;
        transport.MaxWriteBufferSize = options.Limits.MaxConnectionBufferSize;
        transport.UnsafePreferInlineScheduling = options.InlineScheduling;
        var keepAlive = options.TcpKeepAlive;
        var buffers = options.SocketBuffers;
        transport.CreateBoundListenSocket = endpoint =>
        {
            var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
            // Linux copies SO_KEEPALIVE, the TCP_KEEP* values, SO_SNDBUF and SO_RCVBUF to every socket accept() returns.
            // Bound, not yet listening: the receive size decides the window scale that accepted connections offer.
            keepAlive.Apply(socket);
            buffers.Apply(socket);
            return socket;
        };
    }

    /// <summary>RFC 9113 §6.9.2: every HTTP/2 stream's window starts at 65,535; Kestrel takes no less.</summary>
    private const int Http2InitialWindow = 65_535;

    /// <summary>The process-wide environment variable of .NET's socket engine that inline scheduling also needs.</summary>
    internal const string InlineSocketCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Before any socket exists: lets the socket engine run completions inline when <see cref="ServerOptions.InlineScheduling"/>
    /// is on (an explicit value of the environment variable wins, as the runtime's own settings do).
    /// </summary>
    internal static void ConfigureSocketEngine(IConfiguration configuration)
    {
        var inline = configuration.GetValue($"{ServerOptions.SectionName}:{nameof(ServerOptions.InlineScheduling)}", new ServerOptions().InlineScheduling);
        if (inline && Environment.GetEnvironmentVariable(InlineSocketCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineSocketCompletionsVariable, "1");
        }
    }

    /// <summary>
    /// Kestrel resolves its options while the host is built, before <see cref="StartupValidator"/> runs. With
    /// invalid settings this leaves Kestrel unconfigured instead of throwing the first problem alone; the
    /// validator then reports all of them and the server never starts.
    /// </summary>
    private bool TryGetOptions(out ServerOptions options)
    {
        try
        {
            options = _options.Value;
            return true;
        }
        catch (Exception exception) when (exception is OptionsValidationException or InvalidOperationException)
        {
            options = null!;
            return false;
        }
    }
}
