using Gateway.Management;
using Gateway.Telemetry;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Prometheus;

namespace Gateway.Hosting;

/// <summary>
/// The management listener's whole API. It is a terminal branch taken before routing, so none of it can be
/// reached on the public listener and no proxy route can shadow it.
/// </summary>
internal static class ManagementEndpoints
{
    public static void Configure(IApplicationBuilder app)
    {
        // Liveness: the process answers. No dependency is checked, so a backend outage never restarts pods.
        app.UseHealthChecks("/healthz", new HealthCheckOptions { Predicate = static _ => false });
        app.UseHealthChecks("/readyz", new HealthCheckOptions { Predicate = static check => check.Tags.Contains(ReadinessHealthCheck.Tag) });
        // prometheus-net.AspNetCore writes the exposition (Prometheus text, or OpenMetrics when the scraper asks).
        var registry = app.ApplicationServices.GetRequiredService<GatewayTelemetry>().Registry;
        app.UseMetricServer(settings => settings.Registry = registry, "/metrics");
        app.Map("/admin", AdminApi.Configure);
        app.Run(static context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
    }
}
