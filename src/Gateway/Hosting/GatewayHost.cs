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

    public static WebApplicationBuilder CreateBuilder(WebApplicationOptions options)
    {
        var builder = WebApplication.CreateBuilder(options);
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource { InitialData = Defaults });
        var gateway = builder.Services.AddGateway(builder.Configuration);
        if (builder.Environment.IsDevelopment())
        {
            gateway.AddDemoEchoBackend();
        }

        return builder;
    }

    public static WebApplication Build(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
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
