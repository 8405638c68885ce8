using System.ComponentModel.DataAnnotations;
using Gateway.Hosting;
using Microsoft.Extensions.Options;

namespace Gateway.Proxy;

/// <summary>How the gateway talks to backends (<c>Gateway:Proxy</c>).</summary>
public sealed class ProxyOptions
{
    public const string SectionName = "Gateway:Proxy";

    /// <summary>
    /// Bound on a proxied HTTP request, and on a WebSocket handshake until the backend accepts it (the
    /// timeout is lifted once the session is upgraded). A backend that does not answer in time yields 504.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "1.00:00:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>TCP (and TLS) connect to a backend; YARP's own default is 15 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Keepalive on backend sockets: an HTTP/1.1 WebSocket to a vanished backend is otherwise held forever.</summary>
    [Required]
    [ValidateObjectMembers]
    public TcpKeepAliveOptions TcpKeepAlive { get; set; } = new();

    /// <summary>
    /// Buffers of every backend socket (the lean connector's and HttpClient's). Both capped: behind a client that
    /// stops reading the gateway stops reading its backend, whose socket's receive queue then holds what the backend
    /// had sent; behind a backend that stops reading, the send queue holds the client's messages. Backends are near
    /// (a round trip well under a millisecond in a cluster), so 64 KiB costs no throughput: ~100 MB/s at 1 ms.
    /// </summary>
    [Required]
    [ValidateObjectMembers]
    public SocketBufferOptions SocketBuffers { get; set; } = new() { SendBufferSize = 64 * 1024, ReceiveBufferSize = 64 * 1024 };

    /// <summary>HTTP/2 PING interval on backend connections that carry sessions; finds a dead backend connection.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Http2KeepAlivePingDelay { get; set; } = TimeSpan.FromSeconds(30);

    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Http2KeepAlivePingTimeout { get; set; } = TimeSpan.FromSeconds(20);
}

[OptionsValidator]
internal sealed partial class ProxyOptionsValidator : IValidateOptions<ProxyOptions>;
