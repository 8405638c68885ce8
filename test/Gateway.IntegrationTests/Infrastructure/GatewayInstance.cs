using System.Net;
using Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// The real gateway (same builder as Program.cs) on real Kestrel, every listener on 127.0.0.1:0. The bound
/// ports come from the listeners Kestrel reports after start.
/// </summary>
public sealed class GatewayInstance : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GatewayInstance(WebApplication app, LogSink logs)
    {
        _app = app;
        Logs = logs;
        var listeners = app.Services.GetRequiredService<GatewayListeners>();
        PublicEndPoint = listeners.PublicEndPoint!;
        ManagementEndPoint = listeners.ManagementEndPoint!;
        H2cEndPoint = listeners.PublicH2cEndPoint;
        var scheme = listeners.PublicUsesTls ? "https" : "http";
        PublicHttp = new Uri($"{scheme}://127.0.0.1:{PublicEndPoint.Port}");
        PublicWs = new Uri($"{(listeners.PublicUsesTls ? "wss" : "ws")}://127.0.0.1:{PublicEndPoint.Port}");
        Management = new Uri($"http://127.0.0.1:{ManagementEndPoint.Port}");
    }

    public IPEndPoint PublicEndPoint { get; }

    public IPEndPoint ManagementEndPoint { get; }

    public IPEndPoint? H2cEndPoint { get; }

    public Uri PublicHttp { get; }

    public Uri PublicWs { get; }

    public Uri H2cWs => new($"ws://127.0.0.1:{H2cEndPoint!.Port}");

    public Uri Management { get; }

    public LogSink Logs { get; }

    public IServiceProvider Services => _app.Services;

    /// <param name="configure">Adds configuration sources after the settings (a reloadable JSON file, say).</param>
    public static async Task<GatewayInstance> StartAsync(GatewaySettings settings, string environment = "Production", Action<IConfigurationBuilder>? configure = null)
    {
        var builder = GatewayHost.CreateBuilder(new WebApplicationOptions
        {
            EnvironmentName = environment,
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Configuration.AddInMemoryCollection(GatewaySettings.LoopbackListeners).AddInMemoryCollection(settings.Values);
        configure?.Invoke(builder.Configuration);
        var logs = new LogSink();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        var app = GatewayHost.Build(builder);
        await app.StartAsync();
        return new GatewayInstance(app, logs);
    }

    public Uri Ws(string pathAndQuery) => new(PublicWs, pathAndQuery);

    public Uri Http(string pathAndQuery) => new(PublicHttp, pathAndQuery);

    public async Task<string> ScrapeAsync()
    {
        using var client = new HttpClient();
        return await client.GetStringAsync(new Uri(Management, "/metrics"));
    }

    public async Task<MetricsSnapshot> MetricsAsync() => MetricsSnapshot.Parse(await ScrapeAsync());

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
