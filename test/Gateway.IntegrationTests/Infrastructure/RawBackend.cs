using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>What the raw backend saw of one session (keyed by the client's <c>?id=</c>): every frame, as sent.</summary>
public sealed class RawBackendSession
{
    public ConcurrentQueue<RawFrame> Frames { get; } = new();

    /// <summary>Completes with the close frame the backend received; null when the connection ended without one.</summary>
    public TaskCompletionSource<RawFrame?> Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// A Kestrel backend that completes the WebSocket handshake itself and then reads and writes raw frames, so a
/// test sees every frame that reached the backend (pings and pongs included) and can make it send exactly
/// what it wants. Text commands: <c>stream:N:M[:D]</c> sends one binary message of N fragments of M bytes (byte
/// i of the message is i % 251) D ms apart (10 by default), then a text "done"; <c>ping:xyz</c> sends a ping with
/// payload xyz. Other frames are echoed as they came (fragments too); pings answered; a close is answered with the
/// same status and the connection ended. An upgrade request with <c>?status=N</c> is refused with status N and
/// <see cref="RefusalPage"/> as a chunked body.
/// </summary>
public sealed class RawBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RawBackend(WebApplication app)
    {
        _app = app;
    }

    public string Address { get; private set; } = "";

    public ConcurrentDictionary<string, RawBackendSession> Sessions { get; } = new();

    public static async Task<RawBackend> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var backend = new RawBackend(app);
        app.Run(backend.HandleAsync);
        await app.StartAsync();
        backend.Address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return backend;
    }

    public RawBackendSession Session(string id) => Sessions.GetOrAdd(id, _ => new RawBackendSession());

    public const string RefusalPage = "<html><body>Not for you.</body></html>";

    public static byte[] MessageByte(int count) => Enumerable.Range(0, count).Select(i => (byte)(i % 251)).ToArray();

    private async Task HandleAsync(HttpContext context)
    {
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        if (upgrade is not { IsUpgradableRequest: true })
        {
            context.Response.StatusCode = 400;
            return;
        }

        if (int.TryParse(context.Request.Query["status"], System.Globalization.CultureInfo.InvariantCulture, out var refusal))
        {
            context.Response.StatusCode = refusal;
            context.Response.ContentType = "text/html";
            await context.Response.WriteAsync(RefusalPage);
            return;
        }

        var key = context.Request.Headers["Sec-WebSocket-Key"].ToString();
        var accept = WebSocketAccept.For(key);
        context.Response.StatusCode = StatusCodes.Status101SwitchingProtocols;
        context.Response.Headers.Connection = "Upgrade";
        context.Response.Headers.Upgrade = "websocket";
        context.Response.Headers["Sec-WebSocket-Accept"] = accept;
        if (context.Request.Headers["Sec-WebSocket-Extensions"].ToString().Contains("permessage-deflate", StringComparison.OrdinalIgnoreCase))
        {
            // Agreed, so frames may carry RSV1; this backend does not inflate, it only records and echoes.
            context.Response.Headers["Sec-WebSocket-Extensions"] = "permessage-deflate";
        }

        var session = Session(context.Request.Query["id"].ToString());
        await using var stream = await upgrade.UpgradeAsync();
        var writeLock = new SemaphoreSlim(1);
        try
        {
            while (true)
            {
                var frame = await RawFrames.ReadAsync(stream, context.RequestAborted);
                if (frame is null)
                {
                    session.Closed.TrySetResult(null);
                    return;
                }

                session.Frames.Enqueue(frame);
                switch (frame.Opcode)
                {
                    case RawFrame.Close:
                        // Recorded on receipt: a peer that closes its end right after its close frame (as the gateway does
                        // for a client that went away) may make the reply's write fail, and the close was still received.
                        session.Closed.TrySetResult(frame);
                        await Send(RawFrames.CloseFrame(frame.CloseStatus == 1005 ? 1000 : frame.CloseStatus, "", mask: false));
                        return;
                    case RawFrame.Ping:
                        await Send(RawFrames.Encode(RawFrame.Pong, frame.Payload, mask: false));
                        break;
                    case RawFrame.Text when Encoding.UTF8.GetString(frame.Payload) is var text && text.StartsWith("stream:", StringComparison.Ordinal):
                        var parts = text.Split(':');
                        _ = StreamAsync(
                            int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture),
                            int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture),
                            parts.Length > 3 ? int.Parse(parts[3], System.Globalization.CultureInfo.InvariantCulture) : 10);
                        break;
                    case RawFrame.Text when Encoding.UTF8.GetString(frame.Payload) is var text && text.StartsWith("ping:", StringComparison.Ordinal):
                        await Send(RawFrames.Encode(RawFrame.Ping, Encoding.UTF8.GetBytes(text[5..]), mask: false));
                        break;
                    case RawFrame.Text or RawFrame.Binary or RawFrame.Continuation:
                        await Send(RawFrames.Encode(frame.Opcode, frame.Payload, frame.Fin, mask: false, rsv: frame.Rsv));
                        break;
                }
            }
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException or ConnectionAbortedException)
        {
            session.Closed.TrySetResult(null);
        }

        async Task Send(byte[] bytes)
        {
            await writeLock.WaitAsync();
            try
            {
                await stream.WriteAsync(bytes);
                await stream.FlushAsync();
            }
            finally
            {
                writeLock.Release();
            }
        }

        async Task StreamAsync(int fragments, int size, int delayMilliseconds)
        {
            var message = MessageByte(fragments * size);
            try
            {
                for (var i = 0; i < fragments; i++)
                {
                    await Send(RawFrames.Encode(i == 0 ? RawFrame.Binary : RawFrame.Continuation, message.AsSpan(i * size, size), fin: i == fragments - 1, mask: false));
                    await Task.Delay(delayMilliseconds);
                }

                await Send(RawFrames.Encode(RawFrame.Text, "done"u8, mask: false));
            }
            catch (Exception exception) when (exception is IOException or ObjectDisposedException or OperationCanceledException)
            {
                // The session ended while streaming.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
