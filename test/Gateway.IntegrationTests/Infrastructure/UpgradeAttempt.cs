using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>How one WebSocket upgrade attempt ended, as a client sees it.</summary>
public sealed record UpgradeOutcome(
    ClientWebSocket? Socket,
    HttpStatusCode Status,
    string? RetryAfter,
    WebSocketCloseStatus? CloseStatus,
    string? CloseDescription,
    Exception? Error)
{
    /// <summary>Upgraded and still open.</summary>
    public bool Open => Socket is not null && CloseStatus is null;

    public override string ToString()
        => Open ? "open" : CloseStatus is { } close ? $"closed {(int)close} '{CloseDescription}'" : Error is { } error && Status == 0 ? $"failed {error.GetType().Name}: {error.Message}" : $"{(int)Status} Retry-After {RetryAfter ?? "(none)"}";
}

/// <summary>
/// Upgrade attempts from a chosen loopback source address (each 127.0.0.x is a different client to the
/// gateway) with chosen headers, classified the way a client would see them.
/// </summary>
public static class UpgradeAttempt
{
    private static readonly ConcurrentDictionary<IPAddress, HttpMessageInvoker> Invokers = new();

    /// <param name="closeWait">After a successful upgrade, how long to watch for an immediate close frame
    /// (browser-facing rejections accept, then close with 1013).</param>
    public static async Task<UpgradeOutcome> RunAsync(
        Uri uri,
        IPAddress? source = null,
        IReadOnlyDictionary<string, string>? headers = null,
        TimeSpan? closeWait = null,
        bool http2 = false,
        CancellationToken cancellationToken = default)
    {
        var socket = new ClientWebSocket();
        if (http2)
        {
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            socket.Options.SetRequestHeader(name, value);
        }

        try
        {
            if (http2)
            {
                await socket.ConnectAsync(uri, Invokers.GetOrAdd(source ?? IPAddress.Loopback, CreateInvoker), cancellationToken);
            }
            else if (source is null)
            {
                await socket.ConnectAsync(uri, cancellationToken);
            }
            else
            {
                await socket.ConnectAsync(uri, Invokers.GetOrAdd(source, CreateInvoker), cancellationToken);
            }
        }
        catch (Exception exception) when (exception is WebSocketException or HttpRequestException or OperationCanceledException)
        {
            var retryAfter = socket.HttpResponseHeaders is { } responseHeaders && responseHeaders.TryGetValue("Retry-After", out var values) ? string.Join(",", values) : null;
            var outcome = new UpgradeOutcome(null, (HttpStatusCode)socket.HttpStatusCode, retryAfter, null, null, exception);
            socket.Dispose();
            return outcome;
        }

        if (closeWait is { } wait)
        {
            // Not a cancellable receive: cancelling one aborts a ClientWebSocket. A session that stays quiet
            // keeps this receive pending (the echo backend never speaks first), so the socket takes no more reads.
            var buffer = new byte[256];
            var receive = socket.ReceiveAsync(buffer, CancellationToken.None);
            if (await Task.WhenAny(receive, Task.Delay(wait, cancellationToken)) == receive)
            {
                var result = await receive;
                if (result.MessageType != WebSocketMessageType.Close)
                {
                    throw new InvalidOperationException("The gateway sent a data message unprompted.");
                }

                if (socket.State == WebSocketState.CloseReceived)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                }

                var closed = new UpgradeOutcome(null, (HttpStatusCode)socket.HttpStatusCode, null, result.CloseStatus, result.CloseStatusDescription, null);
                socket.Dispose();
                return closed;
            }
        }

        return new UpgradeOutcome(socket, (HttpStatusCode)socket.HttpStatusCode, null, null, null, null);
    }

    private static HttpMessageInvoker CreateInvoker(IPAddress source) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
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
        },
    });
}
