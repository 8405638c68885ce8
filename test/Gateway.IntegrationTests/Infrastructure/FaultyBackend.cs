using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>How a <see cref="FaultyBackend"/> fails an upgrade.</summary>
public enum BackendFault
{
    /// <summary>Answers every upgrade 500.</summary>
    Status500,

    /// <summary>Reads the upgrade and never answers.</summary>
    Hang,

    /// <summary>Accepts the WebSocket, then drops the connection without a close frame.</summary>
    AcceptThenAbort,

    /// <summary>
    /// Answers 500 to an upgrade whose query asks for it (<c>?crash</c>: a request the backend cannot handle, as a
    /// client can craft one), accepts and echoes every other.
    /// </summary>
    Status500WhenAsked,
}

/// <summary>A real Kestrel backend on 127.0.0.1:0 that fails WebSocket upgrades one way; counts the requests it sees.</summary>
public sealed class FaultyBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private FaultyBackend(WebApplication app)
    {
        _app = app;
    }

    public int Port { get; private set; }

    public string Address => $"http://127.0.0.1:{Port}";

    public int Requests => Volatile.Read(ref _requests);

    public static async Task<FaultyBackend> StartAsync(BackendFault fault)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var backend = new FaultyBackend(app);
        app.UseWebSockets();
        app.Run(async context =>
        {
            Interlocked.Increment(ref backend._requests);
            switch (fault)
            {
                case BackendFault.Status500:
                    context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                    await context.Response.WriteAsync("broken");
                    break;
                case BackendFault.Hang:
                    await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(static _ => { }, TaskScheduler.Default);
                    break;
                case BackendFault.Status500WhenAsked when context.Request.Query.ContainsKey("crash"):
                    context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                    await context.Response.WriteAsync("crashed");
                    break;
                case BackendFault.Status500WhenAsked:
                    using (var socket = await context.WebSockets.AcceptWebSocketAsync())
                    {
                        try
                        {
                            var buffer = new byte[1024];
                            while (true)
                            {
                                var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
                                if (received.MessageType == WebSocketMessageType.Close)
                                {
                                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                                    break;
                                }

                                await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, CancellationToken.None);
                            }
                        }
                        catch (WebSocketException)
                        {
                            // The client went without a close.
                        }
                    }

                    break;
                case BackendFault.AcceptThenAbort:
                    using (await context.WebSockets.AcceptWebSocketAsync())
                    {
                        // Long enough for a loaded machine's gateway to have read the 101 (a reset that arrives
                        // first discards it unread: the gateway then answers 502, seen in CI at 50 ms), well inside
                        // the tests' early-abort window.
                        await Task.Delay(300);
                        context.Abort();
                    }

                    break;
            }
        });
        await app.StartAsync();
        backend.Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
