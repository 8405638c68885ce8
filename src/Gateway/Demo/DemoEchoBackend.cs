using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Demo;

/// <summary>
/// Development only: a WebSocket echo server on a loopback port inside the gateway process, and a route
/// <c>/echo</c> to it, so that <c>dotnet run</c> on a fresh clone gives something to connect to at once.
/// Registered only in the Development environment (<see cref="Hosting.GatewayHost.CreateBuilder"/>).
/// </summary>
internal sealed partial class DemoEchoBackend : IHostedService, IAsyncDisposable
{
    public const string RouteId = "demo-echo";

    private readonly InMemoryConfigProvider _proxyConfig;
    private readonly ILogger<DemoEchoBackend> _logger;
    private WebApplication? _app;

    public DemoEchoBackend(InMemoryConfigProvider proxyConfig, ILogger<DemoEchoBackend> logger)
    {
        _proxyConfig = proxyConfig;
        _logger = logger;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        _app.UseWebSockets();
        _app.Map("/echo", EchoAsync);
        await _app.StartAsync(cancellationToken);

        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _proxyConfig.Update(
            [new RouteConfig { RouteId = RouteId, ClusterId = RouteId, Match = new RouteMatch { Path = "/echo" } }],
            [new ClusterConfig { ClusterId = RouteId, Destinations = new Dictionary<string, DestinationConfig> { ["echo"] = new() { Address = address } } }]);
        Log.Started(_logger, address);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    private static async Task EchoAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await context.Response.WriteAsync("Demo echo backend: connect a WebSocket to /echo.\n");
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseOutputAsync(result.CloseStatus ?? WebSocketCloseStatus.NormalClosure, result.CloseStatusDescription, context.RequestAborted);
                return;
            }

            await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Development demo: echo backend on {Address}, route /echo. Try ws://<public listener>/echo.", EventName = "DemoStarted")]
        public static partial void Started(ILogger logger, string address);
    }
}
