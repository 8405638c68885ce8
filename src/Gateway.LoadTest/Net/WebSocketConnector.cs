using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Gateway.LoadTest.Cli;

namespace Gateway.LoadTest.Net;

/// <summary>The outcome of one upgrade attempt: an open socket, or why not (and the HTTP answer if there was one).</summary>
internal readonly record struct ConnectOutcome(ClientWebSocket? Socket, long Microseconds, string? FailureCause, int HttpStatus, long? RetryAfterSeconds);

/// <summary>
/// Opens client WebSockets the same way for every command: one <see cref="HttpMessageInvoker"/> per process
/// (HTTP/1.1 Upgrade or, with --http2, extended CONNECT), each new TCP connection bound to the next source address
/// round-robin, HTTP response details collected so that a refusal shows its status and Retry-After.
/// </summary>
internal sealed class WebSocketConnector : IDisposable
{
    private readonly LoadTestOptions _options;
    private readonly IReadOnlyList<IPAddress> _sources;
    private readonly HttpMessageInvoker _invoker;
    private int _nextSource;

    public WebSocketConnector(LoadTestOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _sources = options.SourceAddresses;
        _nextSource = options.Seed;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            ConnectTimeout = options.ConnectTimeout,
            // Over HTTP/2 every session is a stream; one connection would cap them at the server's stream limit.
            EnableMultipleHttp2Connections = true,
        };
        if (_sources.Count > 0)
        {
            handler.ConnectCallback = ConnectFromSourceAsync;
        }

        if (options.Insecure)
        {
            // Only with --insecure: a load test against a gateway with a self-signed certificate.
#pragma warning disable CA5359
            handler.SslOptions.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
#pragma warning restore CA5359
        }

        _invoker = new HttpMessageInvoker(handler);
    }

    public async Task<ConnectOutcome> ConnectAsync(CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        // No unsolicited pongs: keepalive traffic is the tool's own and under its options.
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        if (_options.Http2)
        {
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await socket.ConnectAsync(_options.Url, _invoker, timeout.Token);
            return new ConnectOutcome(socket, Clock.Microseconds(Stopwatch.GetTimestamp() - started), null, (int)socket.HttpStatusCode, null);
        }
        catch (Exception exception) when (exception is WebSocketException or HttpRequestException or OperationCanceledException or IOException or SocketException)
        {
            var status = (int)socket.HttpStatusCode;
            var cause = Classify(exception, status, timedOut: timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested);
            var retryAfter = RetryAfter(socket.HttpResponseHeaders);
            socket.Dispose();
            return new ConnectOutcome(null, 0, cause, status, retryAfter);
        }
    }

    /// <summary>A failure's cause as a stable key: http_STATUS, timeout, connect_refused, socket_ERROR or exception_TYPE.</summary>
    internal static string Classify(Exception exception, int httpStatus, bool timedOut)
    {
        if (httpStatus is not 0 and not 101 and not 200)
        {
            return "http_" + httpStatus.ToString(CultureInfo.InvariantCulture);
        }

        if (timedOut)
        {
            return "timeout";
        }

        for (var inner = exception; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socketException)
            {
                return socketException.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connect_refused",
                    SocketError.TimedOut => "timeout",
                    var error => "socket_" + error,
                };
            }
        }

        var root = exception;
        while (root is WebSocketException or HttpRequestException && root.InnerException is not null)
        {
            root = root.InnerException;
        }

        return "exception_" + root.GetType().Name;
    }

    /// <summary>Retry-After in whole seconds, from delta-seconds or an HTTP date.</summary>
    internal static long? RetryAfter(IReadOnlyDictionary<string, IEnumerable<string>>? headers)
    {
        if (headers is null || !headers.TryGetValue("Retry-After", out var values))
        {
            return null;
        }

        var value = values.FirstOrDefault()?.Trim();
        if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return seconds;
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date)
            ? Math.Max(0, (long)Math.Ceiling((date - DateTimeOffset.UtcNow).TotalSeconds))
            : null;
    }

    public void Dispose() => _invoker.Dispose();

    private async ValueTask<Stream> ConnectFromSourceAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var source = _sources[(int)((uint)Interlocked.Increment(ref _nextSource) % (uint)_sources.Count)];
        var socket = new Socket(source.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(source, 0));
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

internal static class Clock
{
    private static readonly double MicrosecondsPerTick = 1_000_000.0 / Stopwatch.Frequency;

    public static long Microseconds(long stopwatchTicks) => (long)(stopwatchTicks * MicrosecondsPerTick);

    public static long Ticks(TimeSpan time) => (long)(time.TotalSeconds * Stopwatch.Frequency);
}
