using Gateway.Admission;
using Gateway.Drain;
using Gateway.Heartbeat;
using Gateway.Proxy;
using Gateway.Resilience;
using Gateway.Sessions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Hosting;

/// <summary>
/// Checks everything the gateway is configured with before anything starts: the <c>Gateway:*</c> options
/// (attribute and cross-field rules) and the YARP routes and clusters (YARP's own <see cref="IConfigValidator"/>
/// plus <see cref="ProxyConfigRules"/>). Unlike the usual fail-on-first-error start-up, it collects all problems.
/// </summary>
internal static class StartupValidator
{
    public static List<string> Validate(IServiceProvider services)
    {
        var problems = new List<string>();
        Check<ServerOptions>(services, ServerOptions.SectionName, problems);
        Check<ProxyOptions>(services, ProxyOptions.SectionName, problems);
        Check<AdmissionOptions>(services, AdmissionOptions.SectionName, problems);
        Check<ResilienceOptions>(services, ResilienceOptions.SectionName, problems);
        Check<DrainOptions>(services, DrainOptions.SectionName, problems);
        Check<Management.ManagementOptions>(services, Management.ManagementOptions.SectionName, problems);
        var heartbeat = Check<HeartbeatOptions>(services, HeartbeatOptions.SectionName, problems) ?? new HeartbeatOptions();

        var sessions = Check<WebSocketSessionOptions>(services, WebSocketSessionOptions.SectionName, problems) ?? new WebSocketSessionOptions();

        var clusterIds = CheckProxyConfig(services, sessions, heartbeat.Enabled, problems);
        // Read from configuration, not the options: they are null when invalid, and a typo is worth reporting anyway.
        problems.AddRange(services.GetRequiredService<IConfiguration>().GetSection(ResilienceOptions.SectionName + ":Clusters").GetChildren()
            .Select(section => section.Key)
            .Where(id => !clusterIds.Contains(id))
            .Select(id => $"{ResilienceOptions.SectionName}:Clusters:{id}: no cluster '{id}' under ReverseProxy:Clusters (a misspelt id would silently get the defaults)."));
        return problems;
    }

    private static T? Check<T>(IServiceProvider services, string section, List<string> problems)
        where T : class
    {
        try
        {
            return services.GetRequiredService<IOptionsMonitor<T>>().Get(Options.DefaultName);
        }
        catch (OptionsValidationException exception)
        {
            problems.AddRange(exception.Failures.Select(failure => $"{section}: {failure}"));
        }
        catch (InvalidOperationException exception)
        {
            // The binder's "Failed to convert configuration value at 'Gateway:...' to type ..." names the key itself.
            problems.Add(exception.Message);
        }

        return null;
    }

    private static HashSet<string> CheckProxyConfig(IServiceProvider services, WebSocketSessionOptions sessions, bool heartbeat, List<string> problems)
    {
        var validator = services.GetRequiredService<IConfigValidator>();
        var routes = new List<RouteConfig>();
        var clusters = new List<ClusterConfig>();
        foreach (var provider in services.GetServices<IProxyConfigProvider>())
        {
            try
            {
                var config = provider.GetConfig();
                routes.AddRange(config.Routes);
                clusters.AddRange(config.Clusters);
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                problems.Add($"ReverseProxy: {Describe(exception)}");
            }
        }

        var clusterIds = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var cluster in clusters)
        {
            if (!clusterIds.Add(cluster.ClusterId))
            {
                problems.Add($"ReverseProxy:Clusters:{cluster.ClusterId}: defined twice.");
            }

            var ruleErrors = ProxyConfigRules.ValidateCluster(cluster, sessions);
            problems.AddRange(ruleErrors.Select(error => $"ReverseProxy:Clusters:{cluster.ClusterId}: {error}"));
            var effective = ruleErrors.Count == 0 ? ProxyConfigRules.ApplyDefaults(cluster, sessions, heartbeat) : cluster;
            foreach (var error in validator.ValidateClusterAsync(effective).AsTask().GetAwaiter().GetResult())
            {
                problems.Add($"ReverseProxy:Clusters:{cluster.ClusterId}: {Describe(error)}");
            }
        }

        foreach (var route in routes)
        {
            problems.AddRange(ProxyConfigRules.ValidateRoute(route, clusterIds.Contains).Select(error => $"ReverseProxy:Routes:{route.RouteId}: {error}"));
            foreach (var error in validator.ValidateRouteAsync(route).AsTask().GetAwaiter().GetResult())
            {
                problems.Add($"ReverseProxy:Routes:{route.RouteId}: {Describe(error)}");
            }
        }

        return clusterIds;
    }

    private static string Describe(Exception exception)
    {
        var message = exception.Message;
        for (var inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            message += " " + inner.Message;
        }

        return message;
    }
}
