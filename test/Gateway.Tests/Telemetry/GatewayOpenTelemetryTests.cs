using Gateway.Hosting;
using Gateway.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Gateway.Tests.Telemetry;

/// <summary>When OpenTelemetry is registered, from the standard <c>OTEL_*</c> variables.</summary>
public sealed class GatewayOpenTelemetryTests
{
    [Theory]
    [InlineData(null, null, null, null, false, false)]
    [InlineData("http://collector:4318", null, null, null, true, true)]
    [InlineData(null, "http://collector:4318/v1/traces", null, null, true, false)]
    [InlineData("http://collector:4318", null, "none", null, false, true)]
    [InlineData("http://collector:4318", null, null, "true", false, false)]
    public void Providers_AreRegisteredOnlyForConfiguredSignals(string? endpoint, string? tracesEndpoint, string? tracesExporter, string? disabled, bool traces, bool metrics)
    {
        var configuration = Configuration(new()
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint,
            ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = tracesEndpoint,
            ["OTEL_TRACES_EXPORTER"] = tracesExporter,
            ["OTEL_SDK_DISABLED"] = disabled,
        });
        var services = new ServiceCollection().AddLogging().AddMetrics();
        services.AddSingleton(configuration);

        GatewayOpenTelemetry.Add(services, configuration);

        using var provider = services.BuildServiceProvider();
        Assert.Equal(traces, provider.GetService<TracerProvider>() is not null);
        Assert.Equal(metrics, provider.GetService<MeterProvider>() is not null);
        Assert.Equal(traces, GatewayOpenTelemetry.Exported(configuration, "TRACES"));
        Assert.Equal(metrics, GatewayOpenTelemetry.Exported(configuration, "METRICS"));
    }

    [Theory]
    [InlineData("OTEL_EXPORTER_OTLP_PROTOCOL")]
    [InlineData("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")]
    [InlineData("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")]
    public void UnknownProtocol_IsAConfigurationError(string variable)
    {
        var configuration = Configuration(new() { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318", [variable] = "http/json" });

        var error = Assert.Throws<GatewayConfigurationException>(() => GatewayOpenTelemetry.Add(new ServiceCollection(), configuration));

        Assert.Contains($"{variable}: 'http/json' is not grpc or http/protobuf.", error.Problems);
    }

    [Theory]
    [InlineData("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]
    [InlineData("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector/v1/traces")]
    [InlineData("OTEL_EXPORTER_OTLP_PROTOCOL", " HTTP/protobuf")]
    public void BadEndpointOrProtocolSpelling_IsAConfigurationError(string variable, string value)
    {
        var configuration = Configuration(new() { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318", [variable] = value });

        var error = Assert.Throws<GatewayConfigurationException>(() => GatewayOpenTelemetry.Add(new ServiceCollection(), configuration));

        Assert.Single(error.Problems, problem => problem.StartsWith(variable + ":", StringComparison.Ordinal));
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values)
        => new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
