using System.Diagnostics;
using System.Globalization;
using System.Net;
using Gateway.Frames;
using Gateway.Heartbeat;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gateway.Benchmarks;

/// <summary>
/// <c>scrape-scale</c>: what one /metrics scrape costs with many sessions open, without sockets (a process may not
/// hold the descriptors of 100,000 sessions here). The registry, the heartbeat scheduler (whose tier gauge walks
/// every session at each scrape) and the session metrics are the gateway's own, bridged into prometheus-net by
/// <see cref="GatewayTelemetry"/>; sessions are spread over routes and destinations so per-destination series
/// exist. Prints the median and 95th percentile of the scrape time, the text's size and the bytes it allocated,
/// at 0 sessions and at each count asked for.
/// </summary>
/// <remarks>Usage: <c>scrape-scale [--sessions 100000] [--routes 20] [--destinations 50] [--scrapes 100]</c>.</remarks>
internal static class ScrapeScale
{
    public static int Run(string[] args)
    {
        var sessions = 100_000;
        var routes = 20;
        var destinations = 50;
        var scrapes = 100;
        for (var i = 0; i < args.Length; i++)
        {
            var value = int.Parse(args[++i], CultureInfo.InvariantCulture);
            switch (args[i - 1])
            {
                case "--sessions": sessions = value; break;
                case "--routes": routes = value; break;
                case "--destinations": destinations = value; break;
                case "--scrapes": scrapes = value; break;
                default: throw new ArgumentException($"Unknown option {args[i - 1]}.");
            }
        }

        Console.WriteLine($"scrape-scale: {routes} routes, {destinations} destinations, {scrapes} scrapes each; {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.WriteLine();
        Console.WriteLine("| sessions open | scrape p50 ms | scrape p95 ms | exposition bytes | allocated per scrape |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: |");
        foreach (var count in new[] { 0, sessions })
        {
            Measure(count, routes, destinations, scrapes);
        }

        return 0;
    }

    private static void Measure(int count, int routes, int destinations, int scrapes)
    {
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var telemetry = new GatewayTelemetry(meters);
        var registry = new SessionRegistry(TimeProvider.System, new SessionMetrics(meters), NullLogger<SessionRegistry>.Instance);
        using var scheduler = new HeartbeatScheduler(registry, Options.Create(new HeartbeatOptions()), () => int.MaxValue, new HeartbeatMetrics(meters), TimeProvider.System, NullLogger<HeartbeatScheduler>.Instance);
        var second = TimeProvider.System.TimestampFrequency;
        var policy = new SessionRoutePolicy(new ClientFrameLimits(4 * 1024 * 1024, 16 * 1024 * 1024), heartbeat: true, 25 * second, 10 * second, 0, 5 * second, 0, 5 * second);
        var routeIds = Enumerable.Range(0, routes).Select(i => $"route-{i}").ToArray();
        var destinationIds = Enumerable.Range(0, destinations).Select(i => $"d{i}").ToArray();
        var address = IPAddress.Parse("198.51.100.7");
        for (var i = 0; i < count; i++)
        {
            var route = routeIds[i % routes];
            var session = registry.Open(new SessionStartInfo(route, "cluster-" + (i % routes), destinationIds[i % destinations], address, 1024 + (i % 60000), SessionProtocol.Http11Upgrade, Policy: policy));
            registry.Metrics.Relayed(route, SessionMetrics.ClientToBackend, 100, 1);
            GC.KeepAlive(session);
        }

        var text = telemetry.ScrapeAsync().GetAwaiter().GetResult();
        var times = new double[scrapes];
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = 0; i < scrapes; i++)
        {
            var started = Stopwatch.GetTimestamp();
            text = telemetry.ScrapeAsync().GetAwaiter().GetResult();
            times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        allocated = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / scrapes;
        Array.Sort(times);
        if (!text.Contains("gateway_sessions_active", StringComparison.Ordinal) && count > 0)
        {
            throw new InvalidOperationException("The scrape has no gateway_sessions_active.");
        }

        Console.WriteLine($"| {count:N0} | {times[scrapes / 2]:F2} | {times[(int)(scrapes * 0.95)]:F2} | {System.Text.Encoding.UTF8.GetByteCount(text):N0} | {allocated:N0} B |");
    }
}
