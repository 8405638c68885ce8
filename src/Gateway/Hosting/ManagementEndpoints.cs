using Gateway.Telemetry;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;

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
        app.Map("/metrics", metrics => metrics.Run(MetricsEndpoint.WriteAsync));
        app.Run(static context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
    }
}
