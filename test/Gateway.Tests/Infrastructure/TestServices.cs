using System.Diagnostics.Metrics;
using Gateway.Frames;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Infrastructure;

internal static class TestServices
{
    public static IMeterFactory MeterFactory() => new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();

    public static SessionRegistry Registry(TimeProvider? time = null, IMeterFactory? meters = null)
        => new(time ?? TimeProvider.System, new SessionMetrics(meters ?? MeterFactory()), NullLogger<SessionRegistry>.Instance);

    public static SessionStartInfo StartInfo(string route = "route-a", SessionRoutePolicy? policy = null)
        => new(route, "cluster-a", "d1", System.Net.IPAddress.Loopback, 50000, SessionProtocol.Http11Upgrade, Policy: policy);

    public static Gateway.Proxy.RouteSessionPolicies RouteSessionPolicies(WebSocketSessionOptions? sessions = null, Gateway.Heartbeat.HeartbeatOptions? heartbeat = null, TimeProvider? time = null)
        => new(
            new StaticOptionsMonitor<WebSocketSessionOptions>(sessions ?? new WebSocketSessionOptions()),
            Microsoft.Extensions.Options.Options.Create(heartbeat ?? new Gateway.Heartbeat.HeartbeatOptions()),
            time ?? TimeProvider.System);

    /// <summary>
    /// A route policy in a clock's own ticks: 1 s = <paramref name="time"/>'s frequency.
    /// </summary>
    public static SessionRoutePolicy Policy(
        TimeProvider time,
        double probeAfter = 25,
        double pongTimeout = 10,
        double idleTimeout = 0,
        bool heartbeat = true,
        ClientFrameLimits? limits = null,
        int roundTripMultiplier = 0,
        double minProbeAfter = 5,
        double closeTimeout = 5,
        double probeJitter = 0)
    {
        long Ticks(double seconds) => (long)(seconds * time.TimestampFrequency);
        return new SessionRoutePolicy(limits ?? ClientFrameLimits.Unlimited, heartbeat, Ticks(probeAfter), Ticks(pongTimeout), Ticks(idleTimeout), Ticks(minProbeAfter), roundTripMultiplier, Ticks(closeTimeout), probeJitter);
    }
}

internal sealed class StaticOptionsMonitor<T>(T value) : Microsoft.Extensions.Options.IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}
