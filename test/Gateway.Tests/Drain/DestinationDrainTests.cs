using Gateway.Drain;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Tests.Drain;

/// <summary>The destination drain on a manual clock: which sessions it closes, when, and what stops it.</summary>
public sealed class DestinationDrainTests : IDisposable
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan LatePeriod = TimeSpan.FromSeconds(30);
    private readonly ManualTimeProvider _time = new();
    private readonly SessionRegistry _registry;
    private readonly DestinationDrain _drain;

    public DestinationDrainTests()
    {
        _registry = TestServices.Registry(_time);
        _drain = new DestinationDrain(
            _registry,
            Microsoft.Extensions.Options.Options.Create(new DrainOptions { DestinationWindow = Window, BatchInterval = TimeSpan.FromMilliseconds(100) }),
            Microsoft.Extensions.Options.Options.Create(new Gateway.Proxy.ProxyOptions { RequestTimeout = LatePeriod }),
            _time,
            NullLogger<DestinationDrain>.Instance);
    }

    [Fact]
    public async Task RemovedDestination_ItsSessionsCloseAcrossTheWindow_OthersUntouched()
    {
        _drain.ConfigurationApplied([Config(("c", ["d1", "d2"]), ("other", ["d1"]))]);
        var leaving = Open("c", "d1", 100);
        var staying = Open("c", "d2", 10);
        var sameIdElsewhere = Open("other", "d1", 10);

        _drain.ConfigurationApplied([Config(("c", ["d2", "d3"]), ("other", ["d1"]))]);
        await AdvanceAsync(Window / 2);

        await UntilAsync(() => Draining(leaving) >= 40);
        Assert.InRange(Draining(leaving), 40, 60);
        await AdvanceAsync(Window / 2 + TimeSpan.FromSeconds(1));

        await UntilAsync(() => Draining(leaving) == 100);
        Assert.Equal(0, Draining(staying));
        Assert.Equal(0, Draining(sameIdElsewhere));
    }

    [Fact]
    public async Task DestinationBackBeforeTheWindowEnds_StopsItsDrain()
    {
        _drain.ConfigurationApplied([Config(("c", ["d1", "d2"]))]);
        var sessions = Open("c", "d1", 100);
        _drain.ConfigurationApplied([Config(("c", ["d2"]))]);
        await AdvanceAsync(Window / 4);
        await UntilAsync(() => Draining(sessions) >= 15);
        var closedBefore = Draining(sessions);
        Assert.InRange(closedBefore, 15, 35);

        _drain.ConfigurationApplied([Config(("c", ["d1", "d2"]))]);
        await AdvanceAsync(Window);

        Assert.Equal(closedBefore, Draining(sessions));
    }

    [Fact]
    public async Task FirstConfiguration_DrainsNothing_AndACustomWindowIsHonoured()
    {
        var sessions = Open("c", "d1", 10);
        _drain.ConfigurationApplied([Config(("c", ["d2"]))]);
        await AdvanceAsync(Window * 2);
        Assert.Equal(0, Draining(sessions));

        var quick = new ClusterConfig
        {
            ClusterId = "c",
            Destinations = new Dictionary<string, DestinationConfig> { ["d1"] = new() { Address = "http://d1" }, ["d2"] = new() { Address = "http://d2" } },
            Metadata = new Dictionary<string, string> { [DestinationDrain.WindowMetadata] = "00:00:02" },
        };
        _drain.ConfigurationApplied([new StaticConfig([quick])]);
        _drain.ConfigurationApplied([Config(("c", ["d2"]))]);
        await AdvanceAsync(TimeSpan.FromSeconds(3));

        await UntilAsync(() => Draining(sessions) == 10);
    }

    [Fact]
    public async Task SameIdNewAddress_IsANewBackend_TheOldOnesSessionsAreDrained()
    {
        _drain.ConfigurationApplied([Config(("c", ["d1"]))]);
        var sessions = Open("c", "d1", 10);

        _drain.ConfigurationApplied([new StaticConfig([new ClusterConfig { ClusterId = "c", Destinations = new Dictionary<string, DestinationConfig> { ["d1"] = new() { Address = "http://elsewhere" } } }])]);
        // A session of the new backend, opened during the window, is not the old one's.
        var newBackend = Open("c", "d1", 5, "http://elsewhere");
        await AdvanceAsync(Window + TimeSpan.FromSeconds(1));

        await UntilAsync(() => Draining(sessions) == 10);
        Assert.Equal(0, Draining(newBackend));
        Assert.Equal(0, Draining(Open("c", "d1", 1, "http://elsewhere")));
    }

    [Fact]
    public async Task SessionOpeningOnTheDrainedDestinationLater_GoesAtOnce_UntilAHandshakesLongestTimeHasPassed()
    {
        _drain.ConfigurationApplied([Config(("c", ["d1", "d2"]))]);
        Open("c", "d1", 1);
        _drain.ConfigurationApplied([Config(("c", ["d2"]))]);
        await AdvanceAsync(Window + TimeSpan.FromSeconds(1));

        // Its upgrade chose d1 before the change and completed after the window.
        var late = Open("c", "d1", 1);
        Assert.Equal(1, Draining(late));
        var elsewhere = Open("c", "d2", 1);
        Assert.Equal(0, Draining(elsewhere));

        // A handshake's longest time (30 s here) after the change, nothing can still be under way.
        await AdvanceAsync(LatePeriod - Window);
        await UntilAsync(() => Draining(Open("c", "d1", 1)) == 0);
    }

    [Fact]
    public async Task DrainWindowOff_LeavesTheSessions()
    {
        _drain.ConfigurationApplied([new StaticConfig([new ClusterConfig
        {
            ClusterId = "c",
            Destinations = new Dictionary<string, DestinationConfig> { ["d1"] = new() { Address = "http://d1" } },
            Metadata = new Dictionary<string, string> { [DestinationDrain.WindowMetadata] = "off" },
        }])]);
        var sessions = Open("c", "d1", 10);

        _drain.ConfigurationApplied([Config(("c", ["d2"]))]);
        await AdvanceAsync(Window * 2);

        Assert.Equal(0, Draining(sessions));
    }

    [Fact]
    public async Task SessionWhosePeerIsClosing_IsLeftToThatClose()
    {
        _drain.ConfigurationApplied([Config(("c", ["d1"]))]);
        var sessions = Open("c", "d1", 2);
        sessions[0].RecordBackendClose(1000);
        sessions[1].RecordClientClose(1000);

        _drain.ConfigurationApplied([Config(("c", ["d2"]))]);
        await AdvanceAsync(Window + TimeSpan.FromSeconds(1));

        Assert.Equal(0, Draining(sessions));
    }

    [Theory]
    [InlineData(null, 20)]
    [InlineData("00:01:00", 60)]
    [InlineData("00:00:00", 0)]
    [InlineData("Off", null)]
    public void WindowOf_MetadataOrDefault_IsThatWindow(string? metadata, int? seconds)
    {
        var cluster = new ClusterConfig { ClusterId = "c", Metadata = metadata is null ? null : new Dictionary<string, string> { [DestinationDrain.WindowMetadata] = metadata } };

        Assert.Equal(seconds is { } value ? TimeSpan.FromSeconds(value) : null, DestinationDrain.WindowOf(cluster, Window, out var error));
        Assert.Null(error);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("-00:00:05")]
    [InlineData("02:00:00")]
    public void WindowOf_Invalid_IsAnError(string metadata)
    {
        var cluster = new ClusterConfig { ClusterId = "c", Metadata = new Dictionary<string, string> { [DestinationDrain.WindowMetadata] = metadata } };

        Assert.Equal(Window, DestinationDrain.WindowOf(cluster, Window, out var error));
        Assert.Contains(DestinationDrain.WindowMetadata, error!, StringComparison.Ordinal);
    }

    public void Dispose() => _drain.Dispose();

    private static int Draining(IEnumerable<Session> sessions) => sessions.Count(session => session.GatewayCloseReason == SessionCloseReason.DestinationDrain);

    /// <summary>Sessions on a destination, at the address <see cref="Config"/> gives it unless told otherwise.</summary>
    private List<Session> Open(string cluster, string destination, int count, string? address = null)
        => [.. Enumerable.Range(0, count).Select(_ => _registry.Open(new SessionStartInfo("r", cluster, destination, System.Net.IPAddress.Loopback, 1, SessionProtocol.Http11Upgrade, DestinationAddress: address ?? $"http://{destination}")))];

    /// <summary>Waits (real time, at most 10 s) for the drain's continuations, which xUnit's context runs on its own schedule.</summary>
    private static async Task UntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    /// <summary>Moves the clock in small steps, letting the drain's loop run after each.</summary>
    private async Task AdvanceAsync(TimeSpan by)
    {
        for (var step = TimeSpan.Zero; step < by; step += TimeSpan.FromMilliseconds(100))
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(1);
        }
    }

    private static StaticConfig Config(params (string Cluster, string[] Destinations)[] clusters)
        => new([.. clusters.Select(cluster => new ClusterConfig
        {
            ClusterId = cluster.Cluster,
            Destinations = cluster.Destinations.ToDictionary(id => id, id => new DestinationConfig { Address = $"http://{id}" }),
        })]);

    private sealed class StaticConfig(IReadOnlyList<ClusterConfig> clusters) : IProxyConfig
    {
        public IReadOnlyList<RouteConfig> Routes => [];

        public IReadOnlyList<ClusterConfig> Clusters => clusters;

        public IChangeToken ChangeToken { get; } = new CancellationChangeToken(CancellationToken.None);
    }
}
