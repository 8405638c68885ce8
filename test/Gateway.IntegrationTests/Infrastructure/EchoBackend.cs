using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>What a backend saw of one WebSocket session, keyed by the client's <c>?id=</c>.</summary>
public sealed class BackendSession
{
    private int _messages;

    public required string Protocol { get; init; }

    /// <summary>The upgrade request's <c>traceparent</c> header, if it had one.</summary>
    public string? TraceParent { get; init; }

    /// <summary>Whole data messages received (and echoed).</summary>
    public int Messages => Volatile.Read(ref _messages);

    internal void CountMessage() => Interlocked.Increment(ref _messages);

    /// <summary>Completes with the close status and description the backend received (null status: the connection dropped).</summary>
    public TaskCompletionSource<(WebSocketCloseStatus? Status, string? Description)> Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// A real Kestrel WebSocket echo backend on 127.0.0.1:0, over HTTP/1.1 or cleartext HTTP/2 (h2c). A text
/// message <c>cmd:close:CODE:REASON</c> makes it close the session with that status; <c>cmd:abort</c> drops
/// the connection without a close frame; <c>cmd:flood:BYTES</c> sends that many bytes in 64 KiB binary messages
/// (as fast as the connection takes them) before it echoes again. Counts the TCP connections it accepts.
/// </summary>
public sealed class EchoBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _connections;
    private int _activeSessions;
    private int _sessionsAccepted;

    private EchoBackend(WebApplication app)
    {
        _app = app;
    }

    public int Port { get; private set; }

    public bool Tls { get; private set; }

    public string Address => $"{(Tls ? "https" : "http")}://127.0.0.1:{Port}";

    public int ConnectionsAccepted => Volatile.Read(ref _connections);

    public int ActiveSessions => Volatile.Read(ref _activeSessions);

    public int SessionsAccepted => Volatile.Read(ref _sessionsAccepted);

    public ConcurrentDictionary<string, BackendSession> Sessions { get; } = new();

    /// <param name="port">0 for any free port; a fixed one to bring a destination back where it was.</param>
    /// <param name="tls">Serve https:// with a fresh self-signed certificate (HTTP/1.1 and h2 through ALPN).</param>
    public static async Task<EchoBackend> StartAsync(bool http2 = false, int port = 0, bool tls = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        EchoBackend? backend = null;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listener =>
        {
            listener.Protocols = http2 ? HttpProtocols.Http2 : HttpProtocols.Http1;
            if (tls)
            {
                var (certificatePem, keyPem, _) = TestCertificates.Create();
                listener.Protocols = HttpProtocols.Http1AndHttp2;
                listener.UseHttps(System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(certificatePem, keyPem));
            }

            listener.Use(next => context =>
            {
                Interlocked.Increment(ref backend!._connections);
                return next(context);
            });
        }));
        var app = builder.Build();
        backend = new EchoBackend(app);
        app.UseWebSockets();
        app.Run(backend.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        backend.Port = new Uri(address).Port;
        backend.Tls = tls;
        return backend;
    }

    public BackendSession Session(string id, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < deadline)
        {
            if (Sessions.TryGetValue(id, out var session))
            {
                return session;
            }

            Thread.Sleep(10);
        }

        throw new TimeoutException($"The backend never saw session '{id}'.");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await context.Response.WriteAsync("ok " + context.Request.Path);
            return;
        }

        var id = context.Request.Query["id"].ToString();
        var session = new BackendSession { Protocol = context.Request.Protocol, TraceParent = context.Request.Headers.TraceParent.FirstOrDefault() };
        if (id.Length > 0)
        {
            Sessions[id] = session;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        Interlocked.Increment(ref _sessionsAccepted);
        Interlocked.Increment(ref _activeSessions);
        try
        {
            await EchoAsync(context, socket, session);
        }
        catch (Exception exception) when (exception is WebSocketException or OperationCanceledException or IOException or ConnectionAbortedException)
        {
            session.Closed.TrySetResult((null, exception.GetType().Name));
        }
        finally
        {
            Interlocked.Decrement(ref _activeSessions);
        }
    }

    private static async Task EchoAsync(HttpContext context, WebSocket socket, BackendSession session)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                session.Closed.TrySetResult((result.CloseStatus, result.CloseStatusDescription));
                if (socket.State == WebSocketState.CloseReceived)
                {
                    await socket.CloseOutputAsync(result.CloseStatus ?? WebSocketCloseStatus.Empty, result.CloseStatusDescription, CancellationToken.None);
                }

                return;
            }

            if (result.MessageType == WebSocketMessageType.Text && result.EndOfMessage && result.Count < 200
                && Encoding.UTF8.GetString(buffer, 0, result.Count) is { } text && text.StartsWith("cmd:", StringComparison.Ordinal))
            {
                var parts = text.Split(':', 4);
                if (parts[1] == "abort")
                {
                    context.Abort();
                    session.Closed.TrySetResult((null, "backend aborted"));
                    return;
                }

                if (parts[1] == "flood")
                {
                    var flood = new byte[64 * 1024];
                    for (var left = long.Parse(parts[2]); left > 0; left -= flood.Length)
                    {
                        await socket.SendAsync(flood.AsMemory(0, (int)Math.Min(left, flood.Length)), WebSocketMessageType.Binary, endOfMessage: true, context.RequestAborted);
                    }

                    continue;
                }

                if (parts[1] == "close")
                {
                    await socket.CloseOutputAsync((WebSocketCloseStatus)int.Parse(parts[2]), parts.Length > 3 ? parts[3] : null, CancellationToken.None);
                    // Wait for the client's answering close frame, as RFC 6455 asks.
                    var answer = await socket.ReceiveAsync(buffer, context.RequestAborted);
                    session.Closed.TrySetResult((answer.CloseStatus, answer.CloseStatusDescription));
                    return;
                }
            }

            if (result.EndOfMessage)
            {
                session.CountMessage();
            }

            await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
        }
    }
}
