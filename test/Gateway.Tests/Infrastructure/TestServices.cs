using System.Diagnostics.Metrics;
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

    public static SessionStartInfo StartInfo(string route = "route-a")
        => new(route, "cluster-a", "d1", System.Net.IPAddress.Loopback, 50000, SessionProtocol.Http11Upgrade);
}
