using System.Net;
using BenchmarkDotNet.Attributes;
using Gateway.Admission;
using Gateway.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Gateway.Benchmarks;

/// <summary>
/// The admission decision alone, without sockets or HTTP: what one upgrade costs admission control when it is
/// admitted (and later released), and when the global bucket refuses it. No metrics listener is attached, so the
/// counters' <c>Enabled</c> checks short-cut as they do in a gateway whose meters nobody collects.
/// </summary>
[MemoryDiagnoser]
public class AdmissionBenchmarks
{
    private static readonly IPNetwork[] Trusted = TrustedNetworks.Parse(["10.0.0.0/8"]);
    private static readonly StringValues ForwardedFor = new("198.51.100.7, 10.1.2.3");
    private static readonly IPAddress Peer = IPAddress.Parse("10.0.0.9");

    private AdmissionController _open = null!;
    private AdmissionController _shut = null!;
    private IPAddress[] _clients = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _open = Create(new AdmissionOptions
        {
            // Buckets that a benchmark run cannot empty (nothing refills them here: no ticker).
            Rate = new GlobalRateOptions { PermitsPerSecond = 1_000_000, Burst = int.MaxValue, MinimumPermitsPerSecond = 1_000_000 },
            PerClient = new ClientLimitOptions { PermitsPerSecond = 1_000_000, Burst = int.MaxValue, MaxSessions = 1000 },
            Watermarks = new WatermarkOptions { Low = 1_000_000, High = 2_000_000, Critical = 3_000_000 },
        });
        _shut = Create(new AdmissionOptions
        {
            Rate = new GlobalRateOptions { PermitsPerSecond = 0.01, Burst = 1, MinimumPermitsPerSecond = 0.01 },
            PerClient = new ClientLimitOptions { PermitsPerSecond = 1_000_000, Burst = 1_000_000 },
        });
        _shut.TryAdmit(IPAddress.Loopback, false, "r", out _);
        // 1,000 distinct clients, as in a storm from many addresses.
        _clients = Enumerable.Range(0, 1000).Select(i => new IPAddress([198, 51, (byte)(i / 250), (byte)(i % 250)])).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _open.Dispose();
        _shut.Dispose();
    }

    [Benchmark(Description = "admit + release")]
    public bool AdmitAndRelease()
    {
        var client = _clients[_next++ % _clients.Length];
        var admitted = _open.TryAdmit(client, priority: false, "r", out var ticket).Admitted;
        _open.Release(ticket!);
        return admitted;
    }

    [Benchmark(Description = "reject (global bucket empty)")]
    public int Reject() => _shut.TryAdmit(_clients[_next++ % _clients.Length], priority: false, "r", out _).RetryAfterSeconds;

    [Benchmark(Description = "client identity via trusted proxy")]
    public IPAddress ResolveClient() => ClientIdentity.Resolve(Peer, ForwardedFor, ForwardedHeaderKind.XForwardedFor, Trusted);

    private static AdmissionController Create(AdmissionOptions options)
    {
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        return new AdmissionController(
            options,
            new OptionsFactory<AdmissionOptions>([], []),
            configuration: null,
            new AdmissionMetrics(meters),
            TimeProvider.System,
            NullLogger<AdmissionController>.Instance,
            () => 8L * 1024 * 1024 * 1024,
            startTicker: false);
    }
}
