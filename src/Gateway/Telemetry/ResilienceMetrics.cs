using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gateway.Resilience;
using Polly.CircuitBreaker;

namespace Gateway.Telemetry;

/// <summary>
/// Instruments of backend protection (meter <c>Gateway.Resilience</c>). Breaker state is read from the breakers
/// at each collection, one series per state with value 1 for the current one (so
/// <c>gateway_breaker_state{state="open"} == 1</c> selects open breakers).
/// </summary>
internal sealed class ResilienceMetrics
{
    public const string MeterName = "Gateway.Resilience";

    private static readonly (CircuitState State, string Tag)[] States =
    [
        (CircuitState.Closed, "closed"),
        (CircuitState.HalfOpen, "half_open"),
        (CircuitState.Open, "open"),
    ];

    /// <summary>A breaker state as metrics and traces name it (<c>isolated</c>, which the gauge does not show, included).</summary>
    public static string TagOf(CircuitState state)
    {
        foreach (var (known, tag) in States)
        {
            if (known == state)
            {
                return tag;
            }
        }

        return "isolated";
    }

    private readonly Counter<long> _failures;
    private readonly Counter<long> _uncounted;
    private readonly Counter<long> _opened;
    private readonly Counter<long> _fastFailed;
    private readonly Counter<long> _retried;
    private DestinationBreakers? _breakers;

    public ResilienceMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _failures = meter.CreateCounter<long>("gateway.breaker.failures", "{attempt}", "Upgrade attempts that failed on the backend's side, by destination and reason.");
        _uncounted = meter.CreateCounter<long>("gateway.breaker.failures_uncounted", "{attempt}", "Failed upgrade attempts the breaker did not count: failures a client could have provoked, past its MaxFailuresPerClient.");
        _opened = meter.CreateCounter<long>("gateway.breaker.opened", "{transition}", "Times a destination's circuit breaker opened.");
        _fastFailed = meter.CreateCounter<long>("gateway.upgrades.fast_failed", "{attempt}", "Upgrades answered at once (503 or 1013) because no destination of the cluster could take them.");
        _retried = meter.CreateCounter<long>("gateway.upgrades.retried", "{attempt}", "Upgrades sent to another destination after connecting to this one failed or its breaker refused.");
        meter.CreateObservableGauge("gateway.breaker.state", ObserveStates, "{state}", "Circuit breaker state per destination: 1 for the current state (closed, half_open, open), 0 otherwise.");
    }

    public void ObserveBreakers(DestinationBreakers breakers) => _breakers = breakers;

    public void Failure(BreakerKey key, BackendFailure failure)
        => _failures.Add(1, new TagList { { "cluster", key.ClusterId }, { "destination", key.DestinationId }, { "reason", failure.ToTagValue() } });

    public void Uncounted(BreakerKey key)
        => _uncounted.Add(1, new TagList { { "cluster", key.ClusterId }, { "destination", key.DestinationId } });

    public void BreakerOpened(BreakerKey key)
        => _opened.Add(1, new TagList { { "cluster", key.ClusterId }, { "destination", key.DestinationId } });

    public void FastFailed(string route, string cluster)
        => _fastFailed.Add(1, new TagList { { "route", route }, { "cluster", cluster } });

    public void Retried(BreakerKey from)
        => _retried.Add(1, new TagList { { "cluster", from.ClusterId }, { "destination", from.DestinationId } });

    private IEnumerable<Measurement<int>> ObserveStates()
    {
        if (_breakers is null)
        {
            yield break;
        }

        foreach (var breaker in _breakers.All)
        {
            var current = breaker.Circuit == CircuitState.Isolated ? CircuitState.Open : breaker.Circuit;
            foreach (var (state, tag) in States)
            {
                yield return new Measurement<int>(
                    current == state ? 1 : 0,
                    new KeyValuePair<string, object?>("cluster", breaker.Key.ClusterId),
                    new KeyValuePair<string, object?>("destination", breaker.Key.DestinationId),
                    new KeyValuePair<string, object?>("state", tag));
            }
        }
    }
}
