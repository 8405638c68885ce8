using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>Kestrel listeners, socket settings and request limits (<c>Gateway:Server</c>).</summary>
public sealed class ServerOptions
{
    public const string SectionName = "Gateway:Server";

    /// <summary>Client traffic: WebSockets and proxied HTTP. Nothing of the management API is served here.</summary>
    [Required]
    [ValidateObjectMembers]
    public ListenerOptions Public { get; set; } = new() { Port = 8080 };

    /// <summary>
    /// Optional second client listener speaking cleartext HTTP/2 with prior knowledge (h2c), for load balancers
    /// that talk h2c to pods. Kestrel cannot offer h2c next to HTTP/1.1 on one cleartext port; with TLS,
    /// <see cref="Public"/> offers h2 through ALPN by itself.
    /// </summary>
    [ValidateObjectMembers]
    public ListenerOptions? PublicH2c { get; set; }

    /// <summary>Probes and scrapes: <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>.</summary>
    [Required]
    [ValidateObjectMembers]
    public ListenerOptions Management { get; set; } = new() { Port = 8081 };

    /// <summary>
    /// Accept queue length. Kestrel's 512 overflows in a reconnect storm and the kernel then drops SYNs, which
    /// clients see as multi-second connect stalls. The kernel caps it at <c>net.core.somaxconn</c>.
    /// </summary>
    [Range(16, 65535)]
    public int ListenBacklog { get; set; } = 4096;

    /// <summary>
    /// Run what a socket's data wakes up (the lean path's relay, Kestrel's transport and HTTP layer, the backend
    /// sockets' reads) on the socket engine's threads, one per core, instead of handing each event to the thread pool:
    /// Kestrel's <c>UnsafePreferInlineScheduling</c> and .NET's <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>,
    /// set together at start (the second is a process setting read once, before the first socket). Together they cut
    /// the gateway's CPU per relayed message by about a third at 10,000 messages/s (docs/benchmarks.md); either alone
    /// did nothing measurable. Safe because nothing the gateway runs on a connection blocks; the price is that a
    /// long burst on one connection delays the others on the same core's thread until its writes have to wait, as in
    /// an nginx worker.
    /// </summary>
    public bool InlineScheduling { get; set; } = true;

    /// <summary>Keepalive set on the listening sockets; Linux copies it to every accepted socket.</summary>
    [Required]
    [ValidateObjectMembers]
    public TcpKeepAliveOptions TcpKeepAlive { get; set; } = new();

    /// <summary>
    /// Buffers of the client sockets, set on the listening sockets (Linux copies them to every socket accept() returns,
    /// as it does keepalive). The send buffer is capped: a client that stops reading then holds at most twice it in
    /// the gateway's kernel instead of the ~3.5 MiB autotuning lets it pin. 64 KiB still carries ~1 MB/s to a client
    /// 100 ms away. The receive buffer stays autotuned: it grows only while the gateway keeps reading (clients'
    /// uploads are not held up), and fills only behind a backend that stopped reading, whose own leg is capped.
    /// </summary>
    [Required]
    [ValidateObjectMembers]
    public SocketBufferOptions SocketBuffers { get; set; } = new() { SendBufferSize = 64 * 1024 };

    [Required]
    [ValidateObjectMembers]
    public ServerLimitsOptions Limits { get; set; } = new();
}

public sealed class ListenerOptions
{
    /// <summary>IP address to bind (<c>0.0.0.0</c>, <c>::</c>, <c>127.0.0.1</c>...).</summary>
    [Required]
    public string Address { get; set; } = "0.0.0.0";

    /// <summary>TCP port; 0 binds an ephemeral port (tests), reported in the start-up log.</summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    /// <summary>Serve TLS (wss://, and h2 through ALPN) with a PEM certificate and key. Absent: cleartext (ws://, h2c).</summary>
    [ValidateObjectMembers]
    public TlsOptions? Tls { get; set; }

    internal IPAddress ParsedAddress => IPAddress.Parse(Address);
}

public sealed class TlsOptions
{
    /// <summary>PEM certificate (chain) file, e.g. <c>tls.crt</c> of a Kubernetes TLS secret.</summary>
    [Required]
    public string CertificateFile { get; set; } = "";

    /// <summary>PEM private key file, e.g. <c>tls.key</c>.</summary>
    [Required]
    public string KeyFile { get; set; } = "";

    /// <summary>
    /// How often the files are compared with the certificate in use; a changed pair is loaded for new connections
    /// (open sessions keep theirs). Kubernetes itself takes up to a minute to update a mounted Secret.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Limits that stop slow or junk requests before any proxy work (all set explicitly on Kestrel).</summary>
public sealed class ServerLimitsOptions
{
    /// <summary>Whole request head; larger answers 431.</summary>
    [Range(1024, 1024 * 1024)]
    public int MaxRequestHeadersTotalSize { get; set; } = 32 * 1024;

    /// <summary>Request line; longer answers 414.</summary>
    [Range(256, 1024 * 1024)]
    public int MaxRequestLineSize { get; set; } = 8 * 1024;

    [Range(1, 1000)]
    public int MaxRequestHeaderCount { get; set; } = 100;

    /// <summary>Time to receive the request head; slower answers 408 (slowloris).</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Idle time of a kept-alive HTTP connection between requests (not of upgraded WebSockets).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(130);

    /// <summary>HTTP/2 streams per client connection; each HTTP/2 WebSocket is one stream.</summary>
    [Range(1, 10000)]
    public int MaxStreamsPerConnection { get; set; } = 100;

    /// <summary>
    /// Bytes the gateway holds for one client connection in each direction, beyond the relay's one read buffer and the
    /// kernel's socket buffers: what it has read from the client and not yet written to the backend (a backend that
    /// stops reading), and what it has to write to a client that does not read fast enough. At the bound the gateway
    /// stops reading, so the backpressure reaches the client's (or the backend's) TCP window instead of the gateway's
    /// memory. Kestrel's defaults (1 MiB in, 768 KiB per HTTP/2 stream) let 1,000 sessions behind a stalled backend
    /// take 1.1 GB; the watermarks assume a few KB per session. Sets Kestrel's transport read and write buffers, its
    /// request and response buffers, and the HTTP/2 stream window (at least 65,535, the protocol's initial window).
    /// It also caps one request head: at least <see cref="MaxRequestHeadersTotalSize"/> + <see cref="MaxRequestLineSize"/>.
    /// </summary>
    [Range(16 * 1024, 16 * 1024 * 1024)]
    public int MaxConnectionBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// Client connections open at once on the public listeners; more are closed as they arrive (no TLS, no HTTP) and
    /// counted. 0: derived from the process's open-file limit, (limit − the descriptors open at start − <see cref="ReservedFileDescriptors"/>) ÷ 2, two
    /// descriptors a connection (its socket and its backend leg's), so the process never runs out of descriptors: at
    /// the limit the management port, backend connections and the runtime itself fail, and the process died.
    /// </summary>
    [Range(0, 100_000_000)]
    public int MaxConnections { get; set; }

    /// <summary>
    /// Descriptors kept out of the derived cap beyond those open at start: management connections, backend HTTP/2
    /// connections, files, and connections over the cap in the moment between Kestrel accepting and the gate closing them.
    /// </summary>
    [Range(16, 1_000_000)]
    public int ReservedFileDescriptors { get; set; } = 256;

    /// <summary>
    /// Time a new client connection has to send its first byte (a request line, or a TLS ClientHello); silent ones are
    /// closed then, instead of after the keep-alive timeout, which Kestrel gives a connection before its first request.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan FirstByteTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

[OptionsValidator]
internal sealed partial class ServerOptionsValidator : IValidateOptions<ServerOptions>;

/// <summary>Cross-field checks the attributes cannot express.</summary>
internal sealed class ServerOptionsRules : IValidateOptions<ServerOptions>
{
    public ValidateOptionsResult Validate(string? name, ServerOptions options)
    {
        var errors = new List<string>();
        CheckAddress(options.Public, nameof(ServerOptions.Public), errors);
        CheckAddress(options.Management, nameof(ServerOptions.Management), errors);
        CheckAddress(options.PublicH2c, nameof(ServerOptions.PublicH2c), errors);
        if (options.PublicH2c?.Tls is not null)
        {
            errors.Add("PublicH2c.Tls: the h2c listener is cleartext by definition; for HTTP/2 over TLS give Public a Tls section (ALPN offers h2).");
        }

        if (options.Limits.MaxConnectionBufferSize < options.Limits.MaxRequestHeadersTotalSize + options.Limits.MaxRequestLineSize)
        {
            errors.Add($"Limits.MaxConnectionBufferSize ({options.Limits.MaxConnectionBufferSize}) must hold a whole request head: at least Limits.MaxRequestHeadersTotalSize + Limits.MaxRequestLineSize ({options.Limits.MaxRequestHeadersTotalSize + options.Limits.MaxRequestLineSize}).");
        }

        var ports = new (string Name, ListenerOptions? Listener)[] { ("Public", options.Public), ("PublicH2c", options.PublicH2c), ("Management", options.Management) }
            .Where(entry => entry.Listener is { Port: > 0 })
            .GroupBy(entry => entry.Listener!.Port)
            .Where(group => group.Count() > 1);
        foreach (var group in ports)
        {
            errors.Add($"{string.Join(" and ", group.Select(entry => entry.Name + ".Port"))} are all {group.Key}; each listener needs its own port (the management API must never share a client port).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckAddress(ListenerOptions? listener, string name, List<string> errors)
    {
        if (listener is null)
        {
            return;
        }

        if (!IPAddress.TryParse(listener.Address, out _))
        {
            errors.Add($"{name}.Address '{listener.Address}' is not an IP address (use 0.0.0.0, ::, or a specific address).");
        }

        if (listener.Tls is { } tls)
        {
            if (tls.CertificateFile.Length > 0 && !File.Exists(tls.CertificateFile))
            {
                errors.Add($"{name}.Tls.CertificateFile '{tls.CertificateFile}' does not exist.");
            }

            if (tls.KeyFile.Length > 0 && !File.Exists(tls.KeyFile))
            {
                errors.Add($"{name}.Tls.KeyFile '{tls.KeyFile}' does not exist.");
            }
        }
    }
}
