using System.Collections.Concurrent;
using Gateway.Telemetry;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Registry;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Gateway.Resilience;

/// <summary>A breaker's identity: one per destination of a cluster.</summary>
internal readonly record struct BreakerKey(string ClusterId, string DestinationId);

/// <summary>
/// One destination's circuit breaker: the Polly pipeline, its state, when it next lets a trial through, and the
/// ledger that keeps one client's failures from opening it.
/// </summary>
internal sealed class DestinationBreaker
{
    /// <summary>The upgrade attempt an execution is, read by the breaker's <c>ShouldHandle</c>.</summary>
    public static readonly ResiliencePropertyKey<UpgradeAttempt> AttemptProperty = new("Gateway.UpgradeAttempt");

    private long _reopensAtTicks;

    public DestinationBreaker(BreakerKey key, ClusterResilienceSettings settings, TimeProvider? timeProvider = null)
    {
        Key = key;
        Settings = settings;
        Ledger = new ClientFailureLedger(settings.MaxFailuresPerClient, settings.SamplingDuration, timeProvider ?? TimeProvider.System);
    }

    public BreakerKey Key { get; }

    public ClusterResilienceSettings Settings { get; }

    public CircuitBreakerStateProvider State { get; } = new();

    /// <summary>Set once, right after the registry built it.</summary>
    public ResiliencePipeline<BackendFailure> Pipeline { get; set; } = null!;

    public CircuitState Circuit => State.CircuitState;

    public ClientFailureLedger Ledger { get; }

    /// <summary>
    /// Counts a failure of an attempt that was not an execution of the breaker (its client was past its cap when it
    /// started) but that counts all the same: connecting failed, which no client can cause. If the breaker is open
    /// meanwhile it refuses the report, which then counts for nothing, as any attempt would.
    /// </summary>
    public async Task RecordAsync(BackendFailure failure)
    {
        var context = ResilienceContextPool.Shared.Get();
        try
        {
            await Pipeline.ExecuteOutcomeAsync(static (_, failure) => ValueTask.FromResult(Outcome.FromResult(failure)), context, failure);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>When the open breaker lets its next trial through (UTC); in the past when closed.</summary>
    public DateTimeOffset ReopensAt
    {
        get => new(Interlocked.Read(ref _reopensAtTicks), TimeSpan.Zero);
        set => Interlocked.Exchange(ref _reopensAtTicks, value.UtcTicks);
    }
}

/// <summary>
/// The breakers of every destination, built on first use through Polly's <see cref="ResiliencePipelineRegistry{TKey}"/>
/// keyed by (cluster, destination), with each cluster's settings. A breaker's transitions drive YARP's view of
/// the destination through <see cref="IDestinationHealthUpdater"/>: open marks it unhealthy for the break
/// duration (the balancer skips it; YARP itself restores it to "unknown" when the time is up, and the next
/// session through is Polly's half-open trial), closed marks it healthy again.
/// </summary>
internal sealed partial class DestinationBreakers : IAsyncDisposable
{
    private readonly ResilienceOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly IProxyStateLookup _proxyState;
    private readonly IDestinationHealthUpdater _healthUpdater;
    private readonly ResilienceMetrics _metrics;
    private readonly ILogger<DestinationBreakers> _logger;
    private readonly ResiliencePipelineRegistry<BreakerKey> _registry = new();

    // Lazy: the registry's builder must run once per key, and the state provider attached exactly once.
    private readonly ConcurrentDictionary<BreakerKey, Lazy<DestinationBreaker>> _breakers = new();

    public DestinationBreakers(
        IOptions<ResilienceOptions> options,
        TimeProvider timeProvider,
        IProxyStateLookup proxyState,
        IDestinationHealthUpdater healthUpdater,
        ResilienceMetrics metrics,
        ILogger<DestinationBreakers> logger)
    {
        _options = options.Value;
        _timeProvider = timeProvider;
        _proxyState = proxyState;
        _healthUpdater = healthUpdater;
        _metrics = metrics;
        _logger = logger;
        metrics.ObserveBreakers(this);
    }

    public IEnumerable<DestinationBreaker> All
    {
        get
        {
            foreach (var entry in _breakers)
            {
                if (entry.Value.IsValueCreated)
                {
                    yield return entry.Value.Value;
                }
            }
        }
    }

    public DestinationBreaker Get(string clusterId, string destinationId)
    {
        var key = new BreakerKey(clusterId, destinationId);
        if (_breakers.TryGetValue(key, out var existing))
        {
            return existing.Value;
        }

        return _breakers.GetOrAdd(key, static (key, self) => new Lazy<DestinationBreaker>(() => self.Create(key)), this).Value;
    }

    public ValueTask DisposeAsync() => _registry.DisposeAsync();

    private DestinationBreaker Create(BreakerKey key)
    {
        var breaker = new DestinationBreaker(key, _options.For(key.ClusterId), _timeProvider);
        if (breaker.Settings.OneClientCanOpen)
        {
            Log.OneClientCanOpen(_logger, key.ClusterId, key.DestinationId, breaker.Settings.MaxFailuresPerClient, breaker.Settings.FailureRatio, breaker.Settings.MinimumThroughput);
        }

        breaker.Pipeline = _registry.GetOrAddPipeline<BackendFailure>(key, builder =>
        {
            builder.TimeProvider = _timeProvider;
            builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<BackendFailure>
            {
                FailureRatio = breaker.Settings.FailureRatio,
                MinimumThroughput = breaker.Settings.MinimumThroughput,
                SamplingDuration = breaker.Settings.SamplingDuration,
                BreakDuration = breaker.Settings.BreakDuration,
                StateProvider = breaker.State,
                ShouldHandle = static args => ValueTask.FromResult(Counts(args.Context, args.Outcome)),
                OnOpened = args =>
                {
                    OnOpened(breaker, args.BreakDuration, args.Outcome.Result);
                    return ValueTask.CompletedTask;
                },
                OnHalfOpened = _ =>
                {
                    Log.HalfOpened(_logger, key.ClusterId, key.DestinationId);
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    OnClosed(breaker);
                    return ValueTask.CompletedTask;
                },
            });
        });
        return breaker;
    }

    /// <summary>
    /// Whether an outcome counts as a failure: as the upgrade attempt judged it (<see cref="UpgradeAttempt.CountsAsFailure"/>:
    /// a failure its client could have provoked, past the client's cap, counts as a success, the only other thing
    /// Polly knows), or any failure for an execution that is no attempt.
    /// </summary>
    private static bool Counts(ResilienceContext context, Outcome<BackendFailure> outcome)
    {
        if (outcome.Exception is not null)
        {
            return true;
        }

        return context.Properties.TryGetValue(DestinationBreaker.AttemptProperty, out var attempt)
            ? attempt.CountsAsFailure
            : outcome.Result != BackendFailure.None;
    }

    private void OnOpened(DestinationBreaker breaker, TimeSpan breakDuration, BackendFailure lastFailure)
    {
        breaker.ReopensAt = _timeProvider.GetUtcNow() + breakDuration;
        _metrics.BreakerOpened(breaker.Key);
        Log.Opened(_logger, breaker.Key.ClusterId, breaker.Key.DestinationId, breakDuration.TotalSeconds, lastFailure.ToTagValue());
        SetHealth(breaker.Key, DestinationHealth.Unhealthy, breakDuration);
    }

    private void OnClosed(DestinationBreaker breaker)
    {
        Log.Closed(_logger, breaker.Key.ClusterId, breaker.Key.DestinationId);
        SetHealth(breaker.Key, DestinationHealth.Healthy, TimeSpan.Zero);
    }

    private void SetHealth(BreakerKey key, DestinationHealth health, TimeSpan reactivation)
    {
        if (_proxyState.TryGetCluster(key.ClusterId, out var cluster)
            && cluster.Destinations.TryGetValue(key.DestinationId, out var destination))
        {
            _healthUpdater.SetPassive(cluster, destination, health, reactivation);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Circuit breaker of destination {DestinationId} (cluster {ClusterId}) opened for {BreakSeconds} s after {LastFailure}: the balancer skips it until then.", EventName = "BreakerOpened")]
        public static partial void Opened(ILogger logger, string clusterId, string destinationId, double breakSeconds, string lastFailure);

        [LoggerMessage(2, LogLevel.Information, "Circuit breaker of destination {DestinationId} (cluster {ClusterId}) is half-open: one trial session goes through.", EventName = "BreakerHalfOpened")]
        public static partial void HalfOpened(ILogger logger, string clusterId, string destinationId);

        [LoggerMessage(3, LogLevel.Information, "Circuit breaker of destination {DestinationId} (cluster {ClusterId}) closed: the destination is back in rotation.", EventName = "BreakerClosed")]
        public static partial void Closed(ILogger logger, string clusterId, string destinationId);

        [LoggerMessage(4, LogLevel.Warning, "Circuit breaker of destination {DestinationId} (cluster {ClusterId}): MaxFailuresPerClient {MaxFailuresPerClient} reaches FailureRatio {FailureRatio} of MinimumThroughput {MinimumThroughput}, so one client's failures can still open it; lower the cap or raise the throughput.", EventName = "BreakerCapTooHigh")]
        public static partial void OneClientCanOpen(ILogger logger, string clusterId, string destinationId, int maxFailuresPerClient, double failureRatio, int minimumThroughput);
    }
}
