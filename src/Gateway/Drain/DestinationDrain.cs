using System.Globalization;
using Gateway.Sessions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Gateway.Drain;

/// <summary>
/// The destination drain: when a destination leaves its cluster's configuration (a backend deploy or scale-down
/// seen by service discovery, or a reload), its open sessions are closed with 1012 <c>service restart</c>, spread
/// across a window (<see cref="DrainOptions.DestinationWindow"/>, or the cluster's <c>Gateway.DrainWindow</c>) with the
/// pod drain's stratified schedule (<see cref="DrainSchedule"/>), the backend told first
/// (<see cref="SessionEnds.DestinationDrain"/>). The backend pod needs no drain logic of its own, and its clients do
/// not reconnect all at once. A destination that comes back (same id, same address) before its window ends stops its
/// drain; one whose address changed under the same id left (its old backend is gone) and is drained. A cluster's
/// <c>Gateway.DrainWindow</c> = <c>off</c> leaves sessions on a removed destination until its backend ends them.
/// </summary>
/// <remarks>
/// YARP tells every <see cref="IConfigChangeListener"/> of each applied configuration; the destinations are compared
/// with the previous one's. One loop per drained destination, on the <see cref="TimeProvider"/>, no timer per
/// session; sessions already closing for another reason (the pod drain, say) keep that reason.
/// </remarks>
internal sealed partial class DestinationDrain : IConfigChangeListener, IDisposable
{
    /// <summary>Cluster metadata: the window of a destination drain in this cluster (<c>00:00:20</c>), or <c>off</c>.</summary>
    public const string WindowMetadata = "Gateway.DrainWindow";

    /// <summary>In <see cref="WindowMetadata"/>: no destination drain in this cluster.</summary>
    public const string Off = "off";

    private static readonly TimeSpan MaxWindow = TimeSpan.FromHours(1);

    private readonly Lock _lock = new();
    private readonly Dictionary<(string Cluster, string Destination), (CancellationTokenSource Cancel, string? Address, bool ByOperator)> _running = [];
    private readonly SessionRegistry _registry;
    private readonly DrainOptions _options;
    private readonly TimeSpan _latePeriod;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<DestinationDrain> _logger;
    private readonly IServiceProvider? _services;
    private Dictionary<string, ClusterConfig> _clusters = new(StringComparer.OrdinalIgnoreCase);
    private int _runningCount;

    /// <param name="proxy">Its <c>RequestTimeout</c> bounds an upgrade's handshake: how long after the window a session can still open on the destination.</param>
    /// <param name="services">
    /// Where an operator's drain finds YARP's state and health updater to keep new sessions off the destination. Looked up
    /// then, not taken here: YARP's configuration manager (the state) takes every <see cref="IConfigChangeListener"/>,
    /// this one among them.
    /// </param>
    public DestinationDrain(
        SessionRegistry registry,
        IOptions<DrainOptions> options,
        IOptions<Proxy.ProxyOptions> proxy,
        TimeProvider timeProvider,
        ILogger<DestinationDrain> logger,
        IServiceProvider? services = null)
    {
        _services = services;
        _registry = registry;
        _options = options.Value;
        _latePeriod = proxy.Value.RequestTimeout;
        _timeProvider = timeProvider;
        _logger = logger;
        registry.Opened += OnOpened;
    }

    /// <summary>The window a destination drain of <paramref name="cluster"/> uses (null: off), or an error for its metadata.</summary>
    public static TimeSpan? WindowOf(ClusterConfig cluster, TimeSpan defaultWindow, out string? error)
    {
        error = null;
        if (cluster.Metadata is null || !cluster.Metadata.TryGetValue(WindowMetadata, out var text))
        {
            return defaultWindow;
        }

        if (string.Equals(text.Trim(), Off, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var window) && window >= TimeSpan.Zero && window <= MaxWindow)
        {
            return window;
        }

        error = $"metadata '{WindowMetadata}' = '{text}' is neither 'off' nor a time span between 00:00:00 and {MaxWindow:c}.";
        return defaultWindow;
    }

    public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
        var current = new Dictionary<string, ClusterConfig>(StringComparer.OrdinalIgnoreCase);
        foreach (var cluster in proxyConfigs.SelectMany(static config => config.Clusters))
        {
            current[cluster.ClusterId] = cluster;
        }

        var removed = new List<(string Cluster, string Destination, string? Address, TimeSpan Window, CancellationTokenSource Cancel)>();
        var back = new List<CancellationTokenSource>();
        lock (_lock)
        {
            // An operator's drain is of a destination still configured: only the configuration's own drains stop when it comes back.
            foreach (var (pair, running) in _running.Where(entry => !entry.Value.ByOperator && Has(current, entry.Key.Cluster, entry.Key.Destination, entry.Value.Address)).ToList())
            {
                // Back before its window ended: the sessions still open stay.
                back.Add(running.Cancel);
                _running.Remove(pair);
                Log.Stopped(_logger, pair.Destination, pair.Cluster);
            }

            foreach (var (clusterId, cluster) in _clusters)
            {
                foreach (var (destination, config) in cluster.Destinations ?? new Dictionary<string, DestinationConfig>())
                {
                    if (!Has(current, clusterId, destination, config.Address)
                        && !_running.ContainsKey((clusterId, destination))
                        && WindowOf(cluster, _options.DestinationWindow, out _) is { } window)
                    {
                        var cancel = new CancellationTokenSource();
                        _running[(clusterId, destination)] = (cancel, config.Address, false);
                        removed.Add((clusterId, destination, config.Address, window, cancel));
                    }
                }
            }

            _clusters = current;
            Volatile.Write(ref _runningCount, _running.Count);
        }

        // Outside the lock: a cancelled drain's continuation may run inline and take the lock to leave _running.
        back.ForEach(static cancel => cancel.Cancel());
        foreach (var (cluster, destination, address, window, cancel) in removed)
        {
            _ = DrainAsync(cluster, destination, address, window, cancel, byOperator: false);
        }
    }

    /// <summary>
    /// An operator's drain (the management API) of a destination still in its cluster: its sessions are closed as when it
    /// leaves the configuration, across <paramref name="window"/> (null: the cluster's window, or
    /// <see cref="DrainOptions.DestinationWindow"/> where the cluster has it off), and the balancer skips the destination
    /// (passive health unhealthy) until the drain's end, so the clients it moves do not come back to it. To keep it out
    /// for good, remove it from the configuration.
    /// </summary>
    public OperatorDrain StartByOperator(string clusterId, string destinationId, TimeSpan? window)
    {
        CancellationTokenSource cancel;
        string? address;
        TimeSpan chosen;
        lock (_lock)
        {
            if (!_clusters.TryGetValue(clusterId, out var cluster) || cluster.Destinations is null || !cluster.Destinations.TryGetValue(destinationId, out var destination))
            {
                return new OperatorDrain(OperatorDrainOutcome.Unknown, clusterId, destinationId, null, 0, TimeSpan.Zero);
            }

            // The configuration's ids, not the caller's spelling (ids are case-insensitive).
            clusterId = cluster.ClusterId;
            destinationId = cluster.Destinations.Keys.First(key => string.Equals(key, destinationId, StringComparison.OrdinalIgnoreCase));
            address = destination.Address;
            chosen = window ?? WindowOf(cluster, _options.DestinationWindow, out _) ?? _options.DestinationWindow;
            if (_running.ContainsKey((clusterId, destinationId)))
            {
                return new OperatorDrain(OperatorDrainOutcome.AlreadyDraining, clusterId, destinationId, address, 0, chosen);
            }

            cancel = new CancellationTokenSource();
            _running[(clusterId, destinationId)] = (cancel, address, true);
            Volatile.Write(ref _runningCount, _running.Count);
        }

        KeepNewSessionsOff(clusterId, destinationId, chosen > _latePeriod ? chosen : _latePeriod);
        var sessions = SessionsOn(clusterId, destinationId, address).Count();
        _ = DrainAsync(clusterId, destinationId, address, chosen, cancel, byOperator: true);
        return new OperatorDrain(OperatorDrainOutcome.Started, clusterId, destinationId, address, sessions, chosen);
    }

    /// <summary>The longest window an operator may ask for (as for <see cref="WindowMetadata"/>).</summary>
    public static TimeSpan MaxOperatorWindow => MaxWindow;

    private void KeepNewSessionsOff(string clusterId, string destinationId, TimeSpan period)
    {
        if (_services?.GetService<IProxyStateLookup>() is { } state
            && _services.GetService<IDestinationHealthUpdater>() is { } health
            && state.TryGetCluster(clusterId, out var cluster)
            && cluster.Destinations.TryGetValue(destinationId, out var destination))
        {
            health.SetPassive(cluster, destination, DestinationHealth.Unhealthy, period);
        }
    }

    public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception)
    {
    }

    public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception)
    {
    }

    public void Dispose()
    {
        List<CancellationTokenSource> running;
        lock (_lock)
        {
            running = [.. _running.Values.Select(static entry => entry.Cancel)];
            _running.Clear();
            Volatile.Write(ref _runningCount, 0);
        }

        running.ForEach(static cancel => cancel.Cancel());
    }

    /// <summary>Whether the cluster still has the destination, at the same address (a new address is a new backend).</summary>
    private static bool Has(Dictionary<string, ClusterConfig> clusters, string cluster, string destination, string? address)
        => clusters.TryGetValue(cluster, out var config)
            && config.Destinations is { } destinations
            && destinations.TryGetValue(destination, out var current)
            && string.Equals(current.Address, address, StringComparison.OrdinalIgnoreCase);

    private async Task DrainAsync(string cluster, string destination, string? address, TimeSpan window, CancellationTokenSource cancel, bool byOperator)
    {
        // Off YARP's configuration thread: the walk below reads every session.
        await Task.Yield();
        var started = _timeProvider.GetTimestamp();
        var told = 0;
        try
        {
            var sessions = SessionsOn(cluster, destination, address).ToArray();
            if (byOperator)
            {
                Log.StartedByOperator(_logger, destination, cluster, sessions.Length, window.TotalSeconds);
            }
            else
            {
                Log.Started(_logger, destination, cluster, sessions.Length, window.TotalSeconds);
            }

            await DrainSchedule.CloseAcrossAsync(sessions, window, _options.BatchInterval, _timeProvider, Close, (batch, _, _) => told += batch, cancel.Token);

            // Upgrades to the destination that were under way when the configuration changed: those open now, and
            // (OnOpened, while the entry stays) those that open until a handshake's longest time after the change.
            foreach (var late in SessionsOn(cluster, destination, address))
            {
                told += Close(late);
            }

            Log.Completed(_logger, destination, cluster, told, _timeProvider.GetElapsedTime(started).TotalSeconds);
            var lateUntil = (window > _latePeriod ? window : _latePeriod) - _timeProvider.GetElapsedTime(started);
            if (lateUntil > TimeSpan.Zero)
            {
                await Task.Delay(lateUntil, _timeProvider, cancel.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // The destination came back (logged there), or the gateway's services are being disposed.
        }
        catch (Exception exception)
        {
            Log.Failed(_logger, exception, destination, cluster, told);
        }
        finally
        {
            lock (_lock)
            {
                if (_running.TryGetValue((cluster, destination), out var current) && current.Cancel == cancel)
                {
                    _running.Remove((cluster, destination));
                    Volatile.Write(ref _runningCount, _running.Count);
                }
            }

            cancel.Dispose();
        }
    }

    /// <summary>A session that opens on a destination being drained (its upgrade chose it before the change) goes at once.</summary>
    private void OnOpened(Session session)
    {
        if (Volatile.Read(ref _runningCount) == 0 || session.DestinationId is not { } destination)
        {
            return;
        }

        bool draining;
        lock (_lock)
        {
            draining = _running.TryGetValue((session.ClusterId, destination), out var running) && SameAddress(session, running.Address);
        }

        if (draining)
        {
            Close(session);
        }
    }

    /// <summary>The sessions on the removed destination: its id, and its old address (not the same id's new backend).</summary>
    private IEnumerable<Session> SessionsOn(string cluster, string destination, string? address)
        => _registry.Sessions.Where(session => string.Equals(session.ClusterId, cluster, StringComparison.OrdinalIgnoreCase)
            && string.Equals(session.DestinationId, destination, StringComparison.OrdinalIgnoreCase)
            && SameAddress(session, address));

    /// <summary>A session whose address is not known (opened without one) counts as on the destination.</summary>
    private static bool SameAddress(Session session, string? address)
        => session.DestinationAddress is not { } opened || address is null || string.Equals(opened, address, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Begins the session's close, unless it is already ending: ended, closing for another reason, or a peer's close
    /// already under way (its close frames are relayed; a 1012 after them would be a frame after a close).
    /// </summary>
    private int Close(Session session)
        => !session.IsEnding && session.BeginClose(SessionCloseReason.DestinationDrain, _timeProvider.GetTimestamp()) ? 1 : 0;

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Information, "Destination {DestinationId} left cluster {ClusterId}: its {Sessions} sessions are closed (1012) over {WindowSeconds} s, each backend connection told first.", EventName = "DestinationDrainStarted")]
        public static partial void Started(ILogger logger, string destinationId, string clusterId, int sessions, double windowSeconds);

        [LoggerMessage(11, LogLevel.Information, "Destination drain of {DestinationId} in cluster {ClusterId} completed in {ElapsedSeconds:F1} s: {Told} sessions told to go.", EventName = "DestinationDrainCompleted")]
        public static partial void Completed(ILogger logger, string destinationId, string clusterId, int told, double elapsedSeconds);

        [LoggerMessage(12, LogLevel.Information, "Destination {DestinationId} is back in cluster {ClusterId}: its drain stops; its sessions still open stay.", EventName = "DestinationDrainStopped")]
        public static partial void Stopped(ILogger logger, string destinationId, string clusterId);

        [LoggerMessage(14, LogLevel.Information, "Destination {DestinationId} in cluster {ClusterId} drained by an operator: its {Sessions} sessions are closed (1012) over {WindowSeconds} s, each backend connection told first; the balancer skips it meanwhile.", EventName = "DestinationDrainStartedByOperator")]
        public static partial void StartedByOperator(ILogger logger, string destinationId, string clusterId, int sessions, double windowSeconds);

        [LoggerMessage(13, LogLevel.Error, "Destination drain of {DestinationId} in cluster {ClusterId} failed after {Told} sessions were told to go; the rest stay until their backend ends them.", EventName = "DestinationDrainFailed")]
        public static partial void Failed(ILogger logger, Exception exception, string destinationId, string clusterId, int told);
    }
}
