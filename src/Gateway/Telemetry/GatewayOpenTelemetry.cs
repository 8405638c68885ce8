using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gateway.Telemetry;

/// <summary>
/// OpenTelemetry through its hosting package: traces (the upgrade span, <see cref="UpgradeTracing"/>) and metrics
/// exported over OTLP, each only when an OTLP endpoint is configured with the standard variables. With none of
/// them set nothing is registered: no tracer provider, no exporter, no connection, nothing recorded per upgrade
/// or held per session. /metrics does not depend on any of this (<see cref="GatewayTelemetry"/>).
/// </summary>
internal static class GatewayOpenTelemetry
{
    /// <summary>The <c>service.name</c> when <c>OTEL_SERVICE_NAME</c> does not set one.</summary>
    public const string DefaultServiceName = "websocket-gateway";

    public static void Add(IServiceCollection services, IConfiguration configuration)
    {
        var traces = Exported(configuration, "TRACES");
        var metrics = Exported(configuration, "METRICS");
        if (!traces && !metrics)
        {
            return;
        }

        var openTelemetry = services.AddOpenTelemetry()
            .ConfigureResource(static resource => resource.AddService(DefaultServiceName, serviceVersion: typeof(GatewayOpenTelemetry).Assembly.GetName().Version?.ToString()));
        if (traces)
        {
            openTelemetry.WithTracing(static tracing => tracing
                .AddAspNetCoreInstrumentation(UpgradeTracing.ConfigureAspNetCore)
                .AddOtlpExporter());
        }

        if (metrics)
        {
            openTelemetry.WithMetrics(static meters => meters
                .AddMeter(GatewayTelemetry.Meters)
                .AddOtlpExporter());
            services.ConfigureOpenTelemetryMeterProvider(static (provider, meters) =>
            {
                var meterFactory = provider.GetRequiredService<IMeterFactory>();
                meters.AddView(instrument => GatewayTelemetry.Exported(instrument, meterFactory) ? null : MetricStreamConfiguration.Drop);
            });
        }
    }

    /// <summary>
    /// A signal is exported when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or its signal's own endpoint variable is set,
    /// unless <c>OTEL_SDK_DISABLED</c> is <c>true</c> or <c>OTEL_{signal}_EXPORTER</c> is <c>none</c>.
    /// </summary>
    internal static bool Exported(IConfiguration configuration, string signal)
    {
        if (string.Equals(configuration["OTEL_SDK_DISABLED"], "true", StringComparison.OrdinalIgnoreCase)
            || string.Equals(configuration[$"OTEL_{signal}_EXPORTER"], "none", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
            || !string.IsNullOrWhiteSpace(configuration[$"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"]);
    }
}
