using Gateway.Admission;
using Gateway.Proxy;
using Gateway.Resilience;
using Gateway.Telemetry;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

public static partial class GatewayApplicationExtensions
{
    /// <summary>
    /// Validates the whole configuration (throwing <see cref="GatewayConfigurationException"/> with every
    /// problem), then builds the pipeline. The order is the product's data path:
    /// management branch → routing → request timeouts → YARP [admission → errors → sessions → destination choice
    /// (fallback, fast failure, connect retries) → affinity → balancing → breaker → passive health → forward].
    /// </summary>
    public static WebApplication MapGateway(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var problems = StartupValidator.Validate(app.Services);
        if (problems.Count > 0)
        {
            throw new GatewayConfigurationException(problems);
        }

        // The metrics bridge must exist before the first connection or early measurements are lost; admission
        // starts its ticker and reload watch now rather than on the first upgrade.
        _ = app.Services.GetRequiredService<GatewayTelemetry>();
        _ = app.Services.GetRequiredService<AdmissionController>();
        _ = app.Services.GetRequiredService<UpgradeWatch>();

        var listeners = app.Services.GetRequiredService<GatewayListeners>();
        var readiness = app.Services.GetRequiredService<ReadinessState>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Hosting");
        var clientBuffers = app.Services.GetRequiredService<IOptions<ServerOptions>>().Value.SocketBuffers;
        var backendBuffers = app.Services.GetRequiredService<IOptions<ProxyOptions>>().Value.SocketBuffers;
        var gate = app.Services.GetRequiredService<Connections.ConnectionGate>();
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            readiness.MarkReady();
            Log.Listening(
                logger,
                listeners.PublicUsesTls ? "https" : "http",
                listeners.PublicEndPoint?.ToString(),
                listeners.PublicH2cEndPoint is { } h2c ? $", public h2c http://{h2c}" : "",
                listeners.ManagementEndPoint?.ToString());
            // What the kernel made of the settings: it doubles them, and cuts them to net.core.wmem_max/rmem_max.
            var (clientSend, clientReceive) = clientBuffers.Describe();
            var (backendSend, backendReceive) = backendBuffers.Describe();
            Log.SocketBuffers(logger, clientSend, clientReceive, backendSend, backendReceive);
            Log.ConnectionLimits(logger, gate.Limit == int.MaxValue ? "none" : gate.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture), gate.OpenFileLimit?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown", gate.OpenAtStart, gate.FirstByteTimeout.TotalSeconds);
        });
        app.Lifetime.ApplicationStopping.Register(readiness.BeginShutdown);

        app.MapWhen(listeners.IsManagement, ManagementEndpoints.Configure);
        app.UseRouting();
        app.UseRequestTimeouts();
        app.MapReverseProxy(proxy =>
        {
            proxy.UseMiddleware<AdmissionMiddleware>();
            proxy.UseMiddleware<ProxyErrorMiddleware>();
            proxy.UseMiddleware<SessionTrackingMiddleware>();
            proxy.UseMiddleware<ResilienceMiddleware>();
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UseMiddleware<BreakerMiddleware>();
            proxy.UsePassiveHealthChecks();
        });
        return app;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Gateway listening: public {Scheme}://{PublicEndPoint}{PublicH2c}, management http://{ManagementEndPoint}", EventName = "Listening")]
        public static partial void Listening(ILogger logger, string scheme, string? publicEndPoint, string publicH2c, string? managementEndPoint);

        [LoggerMessage(2, LogLevel.Information, "Socket buffers in bytes: client send {ClientSend}, receive {ClientReceive}; backend send {BackendSend}, receive {BackendReceive}", EventName = "SocketBuffers")]
        public static partial void SocketBuffers(ILogger logger, string clientSend, string clientReceive, string backendSend, string backendReceive);

        [LoggerMessage(3, LogLevel.Information, "Client connections capped at {Limit} (open-file limit {OpenFileLimit}, {OpenAtStart} open at start, two descriptors a connection); a new connection has {FirstByteTimeoutSeconds} s to send its first byte", EventName = "ConnectionLimits")]
        public static partial void ConnectionLimits(ILogger logger, string limit, string openFileLimit, int openAtStart, double firstByteTimeoutSeconds);
    }
}
