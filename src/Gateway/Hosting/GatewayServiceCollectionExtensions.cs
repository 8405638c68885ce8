using Gateway.Admission;
using Gateway.Drain;
using Gateway.Heartbeat;
using Gateway.Management;
using Gateway.Proxy;
using Gateway.Resilience;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Hosting;

public static class GatewayServiceCollectionExtensions
{
    /// <summary>
    /// Registers the gateway: options from <c>Gateway:*</c>, Kestrel listeners, the session registry, metrics,
    /// and YARP with routes and clusters from the <c>ReverseProxy</c> section. The request pipeline is added by
    /// <see cref="GatewayApplicationExtensions.MapGateway"/>.
    /// </summary>
    public static IGatewayBuilder AddGateway(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);

        AddValidatedOptions<ServerOptions, ServerOptionsValidator>(services, ServerOptions.SectionName)
            .Services.AddSingleton<IValidateOptions<ServerOptions>, ServerOptionsRules>();
        AddValidatedOptions<WebSocketSessionOptions, WebSocketSessionOptionsValidator>(services, WebSocketSessionOptions.SectionName)
            .Services.AddSingleton<IValidateOptions<WebSocketSessionOptions>, WebSocketSessionOptionsRules>();
        AddValidatedOptions<ProxyOptions, ProxyOptionsValidator>(services, ProxyOptions.SectionName);
        // Admission limits reload at run time, through AdmissionController alone: bound without a change-token
        // source, so IOptionsMonitor never re-binds (it would throw from inside the configuration reload on an
        // invalid value); the controller re-creates, validates, and keeps the running limits if that fails.
        services.AddSingleton<IValidateOptions<AdmissionOptions>, AdmissionOptionsValidator>();
        services.AddSingleton<IValidateOptions<AdmissionOptions>, AdmissionOptionsRules>();
        services.AddOptions<AdmissionOptions>()
            .Configure<IConfiguration>(static (options, config) => config.GetSection(AdmissionOptions.SectionName).Bind(options));

        AddValidatedOptions<HeartbeatOptions, HeartbeatOptionsValidator>(services, HeartbeatOptions.SectionName)
            .Services.AddSingleton<IValidateOptions<HeartbeatOptions>, HeartbeatOptionsRules>();
        AddValidatedOptions<ResilienceOptions, ResilienceOptionsValidator>(services, ResilienceOptions.SectionName)
            .Services.AddSingleton<IValidateOptions<ResilienceOptions>, ResilienceOptionsRules>();
        AddValidatedOptions<DrainOptions, DrainOptionsValidator>(services, DrainOptions.SectionName);
        AddValidatedOptions<ManagementOptions, ManagementOptionsValidator>(services, ManagementOptions.SectionName)
            .Services.AddSingleton<IValidateOptions<ManagementOptions>, ManagementOptionsRules>();

        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();

        // Hosting
        services.AddSingleton<GatewayListeners>();
        services.AddSingleton<KestrelSetup>();
        services.AddSingleton<IConfigureOptions<KestrelServerOptions>>(static sp => sp.GetRequiredService<KestrelSetup>());
        services.AddSingleton<IConfigureOptions<SocketTransportOptions>>(static sp => sp.GetRequiredService<KestrelSetup>());
        services.AddSingleton<ReadinessState>();
        services.AddSingleton<ManagementToken>();
        services.AddSingleton<AdminApi>();
        services.AddHealthChecks().AddCheck<ReadinessHealthCheck>("ready", tags: [ReadinessHealthCheck.Tag]);

        // Sessions and telemetry
        services.AddSingleton<SessionMetrics>();
        services.AddSingleton<SessionRegistry>();
        services.AddSingleton<GatewayTelemetry>();

        // Heartbeat: one ticker for every session; tier 4 reads the admission high watermark.
        services.AddSingleton<HeartbeatMetrics>();
        services.AddSingleton(static sp => new HeartbeatScheduler(
            sp.GetRequiredService<SessionRegistry>(),
            sp.GetRequiredService<IOptions<HeartbeatOptions>>(),
            () => sp.GetRequiredService<AdmissionController>().HighWatermark,
            sp.GetRequiredService<HeartbeatMetrics>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<HeartbeatScheduler>>()));
        services.AddHostedService(static sp => sp.GetRequiredService<HeartbeatScheduler>());

        // Drain: before any hosted service stops (Kestrel keeps serving, the ticker keeps enforcing deadlines),
        // within a host shutdown timeout derived from the drain's own budget.
        services.AddSingleton<DrainMetrics>();
        services.AddSingleton<DrainService>();
        services.AddHostedService(static sp => sp.GetRequiredService<DrainService>());
        services.AddSingleton<IConfigureOptions<HostOptions>, DrainShutdownTimeout>();

        // Client connections: the cap and the first-byte deadline, before TLS and HTTP
        services.AddSingleton<ConnectionMetrics>();
        services.AddSingleton<Connections.ConnectionGate>();

        // Admission
        services.AddSingleton<AdmissionMetrics>();
        services.AddSingleton<AdmissionController>();
        services.AddSingleton<UpgradeRejection>();

        // Backend protection
        services.AddSingleton<ResilienceMetrics>();
        services.AddSingleton<DestinationBreakers>();
        services.AddSingleton<UpgradeWatch>();
        services.AddSingleton<Yarp.ReverseProxy.Health.IPassiveHealthCheckPolicy, BreakerPassiveHealthPolicy>();

        // Proxy
        services.AddSingleton<ProxySessionPolicy>();
        services.AddSingleton<RouteSessionPolicies>();
        services.AddRequestTimeouts();
        services.AddSingleton<IConfigureOptions<RequestTimeoutOptions>>(static sp =>
            new ConfigureOptions<RequestTimeoutOptions>(timeouts => timeouts.DefaultPolicy = new RequestTimeoutPolicy
            {
                Timeout = sp.GetRequiredService<IOptions<ProxyOptions>>().Value.RequestTimeout,
                TimeoutStatusCode = StatusCodes.Status504GatewayTimeout,
            }));
        // YARP brings ASP.NET Data Protection for its encrypted affinity cookie. Keys stay in memory: the pod's
        // filesystem is read-only and the gateway keeps no state that must outlive it or be shared (see
        // docs/architecture.md on session affinity).
        services.AddDataProtection().UseEphemeralDataProtectionProvider();
        // Registered before AddReverseProxy, whose TryAdd then keeps ours.
        services.AddSingleton<IForwarderHttpClientFactory, BackendHttpClientFactory>();
        services.AddSingleton<Drain.DestinationDrain>();
        services.AddSingleton<Yarp.ReverseProxy.Configuration.IConfigChangeListener>(static sp => sp.GetRequiredService<Drain.DestinationDrain>());
        services.AddSingleton<Balancing.DestinationLoads>();
        services.AddSingleton<Yarp.ReverseProxy.LoadBalancing.ILoadBalancingPolicy, Balancing.ConsistentHashPolicy>();
        var proxy = services.AddReverseProxy()
            .LoadFromConfig(configuration.GetSection("ReverseProxy"))
            .AddConfigFilter<GatewayConfigFilter>()
            .AddTransforms<BackendLegTransform>();

        // AddDataProtection also registers a hosted service that loads the key ring at start, which creates a key
        // and writes it under $HOME/.aspnet (with a warning) although the ephemeral provider never reads it: a
        // write per start, refused on a read-only root filesystem. Nothing here needs the key ring.
        var keyRingLoader = services.FirstOrDefault(static service => service.ServiceType == typeof(IHostedService)
            && !service.IsKeyedService
            && service.ImplementationType?.FullName == "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService");
        if (keyRingLoader is not null)
        {
            services.Remove(keyRingLoader);
        }

        return new GatewayBuilder(services, proxy);
    }

    private static OptionsBuilder<TOptions> AddValidatedOptions<TOptions, TValidator>(IServiceCollection services, string section)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        services.AddSingleton<IValidateOptions<TOptions>, TValidator>();
        return services.AddOptions<TOptions>().BindConfiguration(section).ValidateOnStart();
    }
}
