using System.Diagnostics.CodeAnalysis;
using System.Net;
using Gateway.Resilience;
using Gateway.Telemetry;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Gateway.Tests.Resilience;

/// <summary>
/// The breakers (Polly's registry and circuit breaker, the real thing) driven by a manual clock, with YARP's side
/// (the proxy state and the health updater) replaced by recorders, so the bridge to YARP health is visible.
/// </summary>
public sealed class DestinationBreakersTests : IAsyncDisposable
{
    private readonly ManualTimeProvider _time = new();
    private readonly HealthRecorder _health = new();
    private readonly ClusterState _cluster = new("c");
    private readonly DestinationBreakers _breakers;

    public DestinationBreakersTests()
    {
        var options = new ResilienceOptions
        {
            Breaker = new BreakerOptions { MinimumThroughput = 4, FailureRatio = 0.5, BreakDuration = TimeSpan.FromSeconds(10) },
        };
        options.Clusters["strict"] = new ClusterResilienceOptions { MinimumThroughput = 2, BreakDuration = TimeSpan.FromMinutes(1) };
        _cluster.Destinations["d1"] = new DestinationState("d1");
        _breakers = new DestinationBreakers(
            Options.Create(options),
            _time,
            new SingleCluster(_cluster),
            _health,
            new ResilienceMetrics(TestServices.MeterFactory()),
            NullLogger<DestinationBreakers>.Instance);
    }

    public ValueTask DisposeAsync() => _breakers.DisposeAsync();

    [Fact]
    public void OnePipelinePerDestination_WithItsClustersSettings()
    {
        var breakers = _breakers;
        var a = breakers.Get("c", "d1");
        Assert.Same(a, breakers.Get("c", "d1"));
        Assert.NotSame(a, breakers.Get("c", "d2"));
        Assert.NotSame(a, breakers.Get("other", "d1"));
        Assert.Equal(4, a.Settings.MinimumThroughput);
        Assert.Equal(TimeSpan.FromSeconds(10), a.Settings.BreakDuration);

        var strict = breakers.Get("strict", "d1");
        Assert.Equal(2, strict.Settings.MinimumThroughput);
        Assert.Equal(TimeSpan.FromMinutes(1), strict.Settings.BreakDuration);
        // Unset overrides keep the gateway-wide value.
        Assert.Equal(0.5, strict.Settings.FailureRatio);
    }

    [Fact]
    public async Task Failures_OpenIt_HalfOpenLetsOneTrial_SuccessClosesIt()
    {
        var breaker = _breakers.Get("c", "d1");
        await RecordAsync(breaker, BackendFailure.None);
        await RecordAsync(breaker, BackendFailure.ConnectRefused);
        await RecordAsync(breaker, BackendFailure.None);
        Assert.Equal(CircuitState.Closed, breaker.Circuit);
        await RecordAsync(breaker, BackendFailure.Status5xx);
        Assert.Equal(CircuitState.Open, breaker.Circuit);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(10), breaker.ReopensAt);
        // YARP's balancer skips it for the break; YARP itself restores it to "unknown" afterwards.
        Assert.Equal((DestinationHealth.Unhealthy, TimeSpan.FromSeconds(10)), _health.Last("d1"));

        Assert.IsType<BrokenCircuitException>((await ExecuteAsync(breaker, Task.FromResult(BackendFailure.None))).Exception);

        _time.Advance(TimeSpan.FromSeconds(10));
        var trial = new TaskCompletionSource<BackendFailure>();
        var trialExecution = ExecuteAsync(breaker, trial.Task);
        Assert.Equal(CircuitState.HalfOpen, breaker.Circuit);
        // While the trial is in flight nothing else gets through.
        Assert.IsType<BrokenCircuitException>((await ExecuteAsync(breaker, Task.FromResult(BackendFailure.None))).Exception);

        trial.SetResult(BackendFailure.None);
        await trialExecution;
        Assert.Equal(CircuitState.Closed, breaker.Circuit);
        Assert.Equal(DestinationHealth.Healthy, _health.Last("d1").Health);
    }

    [Fact]
    public async Task FailedTrial_OpensItAgain()
    {
        var breaker = _breakers.Get("strict", "d1");
        await RecordAsync(breaker, BackendFailure.EarlyAbort);
        await RecordAsync(breaker, BackendFailure.EarlyAbort);
        Assert.Equal(CircuitState.Open, breaker.Circuit);

        _time.Advance(TimeSpan.FromMinutes(1));
        await RecordAsync(breaker, BackendFailure.HandshakeTimeout);
        Assert.Equal(CircuitState.Open, breaker.Circuit);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromMinutes(1), breaker.ReopensAt);
    }

    [Fact]
    public async Task FailuresAClientCouldProvoke_CountUpToItsCap_ConnectFailuresAlways()
    {
        // MinimumThroughput 4, FailureRatio 0.5, MaxFailuresPerClient 2 (the default).
        var breaker = _breakers.Get("c", "d1");
        var client = IPAddress.Parse("192.0.2.1");

        // A burst of five 500s from one client, all started before the first was known: two count as failures, the
        // other three as successes (Polly knows nothing else): 2 of 5 is below the ratio.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(i < 2, await AttemptAsync(breaker, client, BackendFailure.Status5xx));
        }

        Assert.Equal(CircuitState.Closed, breaker.Circuit);
        Assert.True(breaker.Ledger.HasReachedCap(client));

        // Connecting failed: no client causes that, so it counts whoever's attempt it was (3 of 6).
        Assert.True(await AttemptAsync(breaker, client, BackendFailure.ConnectRefused));
        Assert.Equal(CircuitState.Open, breaker.Circuit);
    }

    [Fact]
    public async Task FailuresOfManyClients_OpenItAsWithoutTheCap()
    {
        var breaker = _breakers.Get("c", "d1");
        for (var i = 1; i <= 3; i++)
        {
            await AttemptAsync(breaker, IPAddress.Parse($"192.0.2.{i}"), BackendFailure.EarlyAbort);
            Assert.Equal(CircuitState.Closed, breaker.Circuit);
        }

        await AttemptAsync(breaker, IPAddress.Parse("192.0.2.4"), BackendFailure.HandshakeTimeout);
        Assert.Equal(CircuitState.Open, breaker.Circuit);
    }

    [Theory]
    [InlineData(0.5, 10, 2, false)]
    [InlineData(0.5, 10, 4, false)]
    [InlineData(0.5, 10, 5, true)]
    [InlineData(0.5, 2, 1, true)]
    [InlineData(0.2, 100, 19, false)]
    public void OneClientCanOpen_WhenItsCapReachesTheRatioOfTheThroughput(double ratio, int throughput, int cap, bool expected)
    {
        var settings = new ClusterResilienceSettings(ratio, throughput, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2), cap);
        Assert.Equal(expected, settings.OneClientCanOpen);
    }

    /// <summary>One upgrade attempt from <paramref name="client"/> through the breaker, as the middleware runs it; whether its failure counted.</summary>
    private async Task<bool> AttemptAsync(DestinationBreaker breaker, IPAddress client, BackendFailure failure)
    {
        using var attempt = new UpgradeAttempt(breaker, upgrade: null, _time, CancellationToken.None, client);
        var context = ResilienceContextPool.Shared.Get();
        context.Properties.Set(DestinationBreaker.AttemptProperty, attempt);
        try
        {
            var execution = breaker.Pipeline.ExecuteOutcomeAsync(static (_, attempt) => attempt.Outcome, context, attempt);
            Assert.False(execution.IsCompleted);
            attempt.Resolve(failure);
            Assert.Null((await execution).Exception);
            return attempt.CountsAsFailure;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private static async Task RecordAsync(DestinationBreaker breaker, BackendFailure failure)
    {
        var outcome = await ExecuteAsync(breaker, Task.FromResult(failure));
        Assert.Null(outcome.Exception);
    }

    private static async ValueTask<Outcome<BackendFailure>> ExecuteAsync(DestinationBreaker breaker, Task<BackendFailure> result)
    {
        var context = ResilienceContextPool.Shared.Get();
        try
        {
            return await breaker.Pipeline.ExecuteOutcomeAsync(
                static async (_, result) => Outcome.FromResult(await result),
                context,
                result);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private sealed class HealthRecorder : IDestinationHealthUpdater
    {
        private readonly List<(string Destination, DestinationHealth Health, TimeSpan Reactivation)> _calls = [];

        public (DestinationHealth Health, TimeSpan Reactivation) Last(string destination)
        {
            lock (_calls)
            {
                var call = _calls.Last(c => c.Destination == destination);
                return (call.Health, call.Reactivation);
            }
        }

        public void SetActive(ClusterState cluster, IEnumerable<NewActiveDestinationHealth> newHealthStates)
        {
        }

        public void SetPassive(ClusterState cluster, DestinationState destination, DestinationHealth newHealth, TimeSpan reactivationPeriod)
        {
            lock (_calls)
            {
                _calls.Add((destination.DestinationId, newHealth, reactivationPeriod));
            }
        }
    }

    private sealed class SingleCluster(ClusterState cluster) : IProxyStateLookup
    {
        public bool TryGetRoute(string id, [NotNullWhen(true)] out RouteModel? route)
        {
            route = null;
            return false;
        }

        public IEnumerable<RouteModel> GetRoutes() => [];

        public bool TryGetCluster(string id, [NotNullWhen(true)] out ClusterState? found)
        {
            found = id == cluster.ClusterId ? cluster : null;
            return found is not null;
        }

        public IEnumerable<ClusterState> GetClusters() => [cluster];
    }
}
