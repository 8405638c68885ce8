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
        foreach (var variable in new[] { "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL" })
        {
            if (configuration[variable] is { Length: > 0 } value && ProtocolOf(value) is null)
            {
                problems.Add($"{variable}: '{value}' is not grpc or http/protobuf.");
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

        var openTelemetry = services.AddOpenTelemetry().ConfigureResource(resource =>
        {
            // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by the SDK; a name set here would override them.
            if (string.IsNullOrWhiteSpace(configuration["OTEL_SERVICE_NAME"])
                && configuration["OTEL_RESOURCE_ATTRIBUTES"]?.Contains("service.name=", StringComparison.Ordinal) != true)
            {
                resource.AddService(DefaultServiceName, serviceVersion: typeof(GatewayOpenTelemetry).Assembly.GetName().Version?.ToString());
            }
        });
        if (traces)
        {
            openTelemetry.WithTracing(tracing => tracing
                .AddAspNetCoreInstrumentation(UpgradeTracing.ConfigureAspNetCore)
                // HttpClient's own spans (YARP-path upgrades and plain requests): the backend's parent is one of them.
                .AddSource(HttpClientSource)
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

    /// <summary>HttpClient's ActivitySource (.NET 9 and later).</summary>
    internal const string HttpClientSource = "System.Net.Http";

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

    private static OtlpExportProtocol? ProtocolOf(string value) => value.Trim().ToLowerInvariant() switch
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
