using System.Diagnostics.Metrics;
using OpenTelemetry.Exporter;
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

    /// <exception cref="Hosting.GatewayConfigurationException">An OTLP protocol variable names no protocol.</exception>
    public static void Add(IServiceCollection services, IConfiguration configuration)
    {
        var problems = new List<string>();
        foreach (var signal in new[] { "", "TRACES_", "METRICS_" })
        {
            if (configuration[$"OTEL_EXPORTER_OTLP_{signal}PROTOCOL"] is { Length: > 0 } protocol && ProtocolOf(protocol) is null)
            {
                problems.Add($"OTEL_EXPORTER_OTLP_{signal}PROTOCOL: '{protocol}' is not grpc or http/protobuf.");
            }

            if (configuration[$"OTEL_EXPORTER_OTLP_{signal}ENDPOINT"] is { Length: > 0 } endpoint
                && !(Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)))
            {
                problems.Add($"OTEL_EXPORTER_OTLP_{signal}ENDPOINT: '{endpoint}' is not an absolute http:// or https:// address.");
            }
        }

        if (problems.Count > 0)
        {
            throw new Hosting.GatewayConfigurationException(problems);
        }

        var traces = Exported(configuration, "TRACES");
        var metrics = Exported(configuration, "METRICS");
        if (!traces && !metrics)
        {
            return;
        }

        // The gateway's name and version first, then what the standard variables say (OTEL_SERVICE_NAME,
        // OTEL_RESOURCE_ATTRIBUTES), so an operator's values win over ours.
        var openTelemetry = services.AddOpenTelemetry().ConfigureResource(static resource => resource
            .Clear()
            .AddService(DefaultServiceName, serviceVersion: typeof(GatewayOpenTelemetry).Assembly.GetName().Version?.ToString(), autoGenerateServiceInstanceId: false)
            .AddTelemetrySdk()
            .AddEnvironmentVariableDetector());
        if (traces)
        {
            openTelemetry.WithTracing(tracing => tracing
                .AddAspNetCoreInstrumentation(UpgradeTracing.ConfigureAspNetCore)
                // HttpClient's own spans (YARP-path upgrades and plain requests): the backend's parent is one of them.
                .AddSource(GatewayTelemetry.HttpClientSource)
                .AddOtlpExporter(options => SignalEndpoint(configuration, "TRACES", options)));
        }

        if (metrics)
        {
            openTelemetry.WithMetrics(meters => meters
                .AddMeter(GatewayTelemetry.Meters)
                .AddOtlpExporter(options => SignalEndpoint(configuration, "METRICS", options)));
            services.ConfigureOpenTelemetryMeterProvider(static (provider, meters) =>
            {
                var meterFactory = provider.GetRequiredService<IMeterFactory>();
                meters.AddView(instrument => GatewayTelemetry.Exported(instrument, meterFactory) ? null : MetricStreamConfiguration.Drop);
            });
        }
    }

    /// <summary>
    /// <c>AddOtlpExporter</c> reads only the general <c>OTEL_EXPORTER_OTLP_*</c> variables; a signal's own endpoint
    /// and protocol, when set, take over as the specification says (the endpoint used as given, no path appended).
    /// </summary>
    private static void SignalEndpoint(IConfiguration configuration, string signal, OtlpExporterOptions options)
    {
        if (configuration[$"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"] is { Length: > 0 } endpoint)
        {
            options.Endpoint = new Uri(endpoint);
        }

        if (configuration[$"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"] is { Length: > 0 } value && ProtocolOf(value) is { } protocol)
        {
            options.Protocol = protocol;
        }
    }

    /// <summary>Exactly as the SDK reads the general variable (another spelling would silently mean gRPC there).</summary>
    private static OtlpExportProtocol? ProtocolOf(string value) => value switch
    {
        "grpc" => OtlpExportProtocol.Grpc,
        "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
        _ => null,
    };

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
