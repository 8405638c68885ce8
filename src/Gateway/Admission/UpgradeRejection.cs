using System.Globalization;
using System.Net.WebSockets;
using Microsoft.AspNetCore.WebSockets;
using Gateway.Telemetry;
using Microsoft.Extensions.Options;

namespace Gateway.Admission;

/// <summary>
/// Answers a refused WebSocket upgrade: an HTTP status with <c>Retry-After</c>, or, on browser-facing routes,
/// an accepted upgrade closed at once with 1013 "Try Again Later" and the retry hint in the reason (the only
/// thing a browser's WebSocket API lets a page read). Shared by every capability that refuses upgrades.
/// </summary>
/// <remarks>
/// The accept goes through ASP.NET Core's <see cref="WebSocketMiddleware"/>, invoked only on this path: it
/// validates the handshake and speaks both HTTP/1.1 Upgrade and HTTP/2 extended CONNECT, while admitted
/// sessions never pay for it (the proxy relays their upgrade itself).
/// </remarks>
internal sealed partial class UpgradeRejection
{
    /// <summary>RFC 6455 7.4.1 reserves 1013 "Try Again Later" (registered by IANA) for exactly this.</summary>
    public const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)Frames.CloseFrame.TryAgainLater;

    private readonly WebSocketMiddleware _acceptThenClose;
    private readonly ILogger<UpgradeRejection> _logger;

    public UpgradeRejection(ILoggerFactory loggerFactory)
    {
        _logger = loggerFactory.CreateLogger<UpgradeRejection>();
        _acceptThenClose = new WebSocketMiddleware(
            AcceptThenCloseAsync,
            Options.Create(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero }),
            loggerFactory);
    }

    /// <summary>
    /// Answers <paramref name="statusCode"/> (429, 503...) with <c>Retry-After</c>, or, when
    /// <paramref name="closeInstead"/>, 1013 with the hint. <paramref name="message"/> is the HTTP body;
    /// <paramref name="reason"/> goes on the upgrade span.
    /// </summary>
    public Task RejectAsync(HttpContext context, AdmissionRejection reason, int statusCode, TimeSpan retryAfter, string message, bool closeInstead, TimeSpan closeTimeout)
        => RejectAsync(context, AdmissionController.TagOf(reason), statusCode, retryAfter, message, closeInstead, closeTimeout);

    /// <inheritdoc cref="RejectAsync(HttpContext, AdmissionRejection, int, TimeSpan, string, bool, TimeSpan)"/>
    public Task RejectAsync(HttpContext context, string reason, int statusCode, TimeSpan retryAfter, string message, bool closeInstead, TimeSpan closeTimeout)
    {
        var seconds = (int)Math.Ceiling(retryAfter.TotalSeconds);
        var close = closeInstead && !context.Response.HasStarted;
        UpgradeTracing.Refused(context, reason, statusCode, seconds, close);
        if (close)
        {
            context.Features.Set(new PendingClose(seconds, closeTimeout, statusCode, message));
            return _acceptThenClose.Invoke(context);
        }

        return WriteStatusAsync(context, statusCode, seconds, message);
    }

    private static Task WriteStatusAsync(HttpContext context, int statusCode, int retryAfterSeconds, string message)
    {
        if (context.Response.HasStarted)
        {
            context.Abort();
            return Task.CompletedTask;
        }

        var response = context.Response;
        response.StatusCode = statusCode;
        if (retryAfterSeconds > 0)
        {
            response.Headers.RetryAfter = retryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        }

        response.Headers.CacheControl = "no-store";
        if (context.Request.Protocol == "HTTP/1.1")
        {
            // A client refused in a storm should not keep the connection (and its descriptor) to retry on.
            response.Headers.Connection = "close";
        }

        response.ContentType = "text/plain; charset=utf-8";
        var body = System.Text.Encoding.UTF8.GetBytes(message + "\n");
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private async Task AcceptThenCloseAsync(HttpContext context)
    {
        var pending = context.Features.Get<PendingClose>()!;
        if (!context.WebSockets.IsWebSocketRequest)
        {
            // Not a handshake the WebSocket middleware accepts (bad version or key): the status is all it gets.
            await WriteStatusAsync(context, pending.StatusCode, pending.RetryAfterSeconds, pending.Message);
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        using var timeout = new CancellationTokenSource(pending.CloseTimeout);
        var reason = string.Create(CultureInfo.InvariantCulture, $"Try Again Later; retry after {pending.RetryAfterSeconds} s");
        try
        {
            // CloseAsync waits for the client's close frame, so the client, not the gateway, ends up in TIME_WAIT.
            await socket.CloseAsync(TryAgainLater, reason, timeout.Token);
        }
        catch (Exception exception) when (exception is OperationCanceledException or WebSocketException or IOException)
        {
            Log.CloseNotAnswered(_logger, context.Connection.RemoteIpAddress, exception.Message);
            socket.Abort();
        }
    }

    private sealed record PendingClose(int RetryAfterSeconds, TimeSpan CloseTimeout, int StatusCode, string Message);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Client {ClientAddress} did not complete the 1013 close handshake: {Message}", EventName = "RejectionCloseNotAnswered")]
        public static partial void CloseNotAnswered(ILogger logger, System.Net.IPAddress? clientAddress, string message);
    }
}
