using Gateway.Telemetry;

namespace Gateway.Hosting;

/// <summary>Builds and runs the gateway process; tests use the same entry points with their own configuration.</summary>
public static class GatewayHost
{
    /// <summary>Exit code for an invalid configuration (EX_CONFIG in sysexits.h).</summary>
    public const int ConfigurationErrorExitCode = 78;

    /// <summary>Defaults under everything else (appsettings, environment, command line can override).</summary>
    private static readonly Dictionary<string, string?> Defaults = new()
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Information",
        ["Logging:LogLevel:Yarp"] = "Warning",
        // Forwarding failures are logged once, with route and destination, by ProxyErrorMiddleware;
        // YARP's own lines for the same failures carry neither.
        ["Logging:LogLevel:Yarp.ReverseProxy.Forwarder"] = "Error",
        ["Logging:LogLevel:Yarp.ReverseProxy.LoadBalancing"] = "Error",
    };

    /// <summary>The environment variable naming an extra JSON configuration file (a mounted ConfigMap).</summary>
    public const string ConfigFileVariable = "GATEWAY_CONFIG";

    public static WebApplicationBuilder CreateBuilder(WebApplicationOptions options)
    {
        var builder = WebApplication.CreateBuilder(options);
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource { InitialData = Defaults });
        AddConfigFile(builder.Configuration, builder.Environment.ContentRootPath);
        var gateway = builder.Services.AddGateway(builder.Configuration);
        if (builder.Environment.IsDevelopment())
        {
            gateway.AddDemoEchoBackend();
        }

        return builder;
    }

    /// <summary>
    /// The file named by the environment variable <c>GATEWAY_CONFIG</c> (relative paths from the content root) goes
    /// above appsettings and below environment variables and the command line, so a single setting can still be
    /// overridden in the pod spec. It is reloaded on change like appsettings (routes, clusters, admission limits);
    /// in Kubernetes set <c>DOTNET_USE_POLLING_FILE_WATCHER=true</c>, because a ConfigMap update swaps a symlink
    /// that inotify misses. A missing or unreadable file is a configuration error (exit code 78).
    /// </summary>
    private static void AddConfigFile(ConfigurationManager configuration, string contentRoot)
    {
        var path = Environment.GetEnvironmentVariable(ConfigFileVariable);
        if (string.IsNullOrWhiteSpace(path))
        {
            return;
        }

        path = Path.GetFullPath(path, contentRoot);
        if (!File.Exists(path))
        {
            throw new GatewayConfigurationException([$"{ConfigFileVariable}: configuration file '{path}' does not exist."]);
        }

        var source = new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource
        {
            Path = Path.GetFileName(path),
            FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(Path.GetDirectoryName(path)!),
            Optional = false,
            ReloadOnChange = true,
        };
        var sources = configuration.Sources;
        var lastJson = -1;
        for (var i = 0; i < sources.Count; i++)
        {
            if (sources[i] is Microsoft.Extensions.Configuration.Json.JsonConfigurationSource)
            {
                lastJson = i;
            }
        }

        try
        {
            // The configuration manager loads a source as it is added.
            sources.Insert(lastJson + 1, source);
        }
        catch (InvalidDataException exception)
        {
            throw new GatewayConfigurationException([$"{ConfigFileVariable}: configuration file '{path}' is not valid JSON: {exception.InnerException?.Message ?? exception.Message}"]);
        }
    }

    public static WebApplication Build(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // With the configuration complete and before the first socket.
        KestrelSetup.ConfigureSocketEngine(builder.Configuration);
        GatewayOpenTelemetry.Add(builder.Services, builder.Configuration);
        var app = builder.Build();
        try
        {
            app.MapGateway();
        }
        catch
        {
            ((IDisposable)app).Dispose();
            throw;
        }

        return app;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication app;
        try
        {
            app = Build(CreateBuilder(new WebApplicationOptions { Args = args }));
        }
        catch (GatewayConfigurationException exception)
        {
            await Console.Error.WriteLineAsync(exception.Message);
            return ConfigurationErrorExitCode;
        }

        await using (app)
        {
            await app.RunAsync();
        }

        return 0;
    }
}
