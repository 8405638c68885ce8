using System.Net;
using BenchmarkDotNet.Attributes;
using Gateway.Balancing;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace Gateway.Benchmarks;

/// <summary>
/// One pick of the <c>ConsistentHash</c> policy (rendezvous hashing: one XxHash3 per available destination), keyed by
/// a header, unbounded and with a balance factor (which also reads every destination's session count), by number
/// of destinations. Paid once per upgrade.
/// </summary>
[MemoryDiagnoser]
public class BalancingBenchmarks
{
    private ConsistentHashPolicy _policy = null!;
    private ClusterState _unbounded = null!;
    private ClusterState _bounded = null!;
    private DestinationState[] _destinations = null!;
    private DefaultHttpContext[] _requests = null!;
    private int _next;

    [Params(3, 10, 100)]
    public int Destinations { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var registry = new SessionRegistry(TimeProvider.System, new SessionMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), NullLogger<SessionRegistry>.Instance);
        _policy = new ConsistentHashPolicy(new DestinationLoads(registry));
        _destinations = [.. Enumerable.Range(0, Destinations).Select(i => new DestinationState($"pod-{i}"))];
        _unbounded = Cluster(new() { [ConsistentHashSettings.KeyMetadata] = "header:X-Room" });
        _bounded = Cluster(new() { [ConsistentHashSettings.KeyMetadata] = "header:X-Room", [ConsistentHashSettings.BalanceFactorMetadata] = "1.25" });
        // Sessions already placed, so the bounded pick reads real counts.
        foreach (var destination in _destinations)
        {
            registry.Open(new SessionStartInfo("r", "c", destination.DestinationId, IPAddress.Loopback, 1, SessionProtocol.Http11Upgrade));
        }

        _requests = [.. Enumerable.Range(0, 1024).Select(i =>
        {
            var context = new DefaultHttpContext();
            context.Request.Headers["X-Room"] = $"room-{i}";
            return context;
        })];
    }

    [Benchmark(Description = "pick, unbounded")]
    public DestinationState? Unbounded() => _policy.PickDestination(_requests[_next++ & 1023], _unbounded, _destinations);

    [Benchmark(Description = "pick, balance factor 1.25")]
    public DestinationState? Bounded() => _policy.PickDestination(_requests[_next++ & 1023], _bounded, _destinations);

    private static ClusterState Cluster(Dictionary<string, string> metadata)
        => new("c", new ClusterModel(new ClusterConfig { ClusterId = "c", Metadata = metadata }, new HttpMessageInvoker(new HttpClientHandler())));
}
