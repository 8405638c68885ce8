using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Numerics;
using Prometheus;

namespace Gateway.Telemetry;

/// <summary>
/// Feeds <see cref="System.Diagnostics.Metrics"/> instruments into a prometheus-net registry, which serves them
/// at /metrics. Written here rather than prometheus-net's own <c>MeterAdapter</c>, measured against it: the
/// adapter prefixes every name with its meter's, publishes counters as gauges, ignores units, drops a series after
/// five minutes without an update (a steady gauge of open sessions would vanish), and takes a reader lock on
/// every measurement. This bridge keeps the names, types and units /metrics had (<see cref="PrometheusNames"/>)
/// and records a known series without a lock or an allocation; prometheus-net keeps the values and writes the
/// exposition.
/// </summary>
internal sealed class PrometheusBridge : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly IMetricFactory _factory;
    private readonly Func<Instrument, bool> _exported;
    private readonly ConcurrentDictionary<string, PrometheusType> _families = new(StringComparer.Ordinal);
    private volatile bool _disposed;

    public PrometheusBridge(CollectorRegistry registry, Func<Instrument, bool> exported)
    {
        _exported = exported;
        var factory = Prometheus.Metrics.WithCustomRegistry(registry);
        // prometheus-net's default records an exemplar from Activity.Current on every add: work on the hot path
        // for a feature only OpenMetrics scrapes show.
        factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        _factory = factory;

        _listener.InstrumentPublished = OnInstrumentPublished;
        _listener.SetMeasurementEventCallback<byte>(OnMeasurement);
        _listener.SetMeasurementEventCallback<short>(OnMeasurement);
        _listener.SetMeasurementEventCallback<int>(OnMeasurement);
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.SetMeasurementEventCallback<float>(OnMeasurement);
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.SetMeasurementEventCallback<decimal>(OnMeasurement);
        _listener.Start();

        // Observable instruments are read when Prometheus scrapes, not on a timer.
        registry.AddBeforeCollectCallback(() =>
        {
            if (!_disposed)
            {
                _listener.RecordObservableInstruments();
            }
        });
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (_exported(instrument) && BridgedInstrument.Create(instrument, _factory, Claim) is { } bridged)
        {
            listener.EnableMeasurementEvents(instrument, bridged);
        }
    }

    /// <summary>
    /// A Prometheus name belongs to one type: the first instrument to map to it decides, and one of another type is
    /// left out (its measurements are dropped) rather than made to fail in the caller's code.
    /// </summary>
    private bool Claim(string name, PrometheusType type) => _families.GetOrAdd(name, type) == type;

    private static void OnMeasurement<T>(Instrument instrument, T measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        where T : struct, INumberBase<T>
        => ((BridgedInstrument)state!).Record(double.CreateTruncating(measurement), tags);

    public void Dispose()
    {
        _disposed = true;
        _listener.Dispose();
    }
}
