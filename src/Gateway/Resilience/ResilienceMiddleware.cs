using System.Collections.Concurrent;
using Gateway.Admission;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Gateway.Resilience;

/// <summary>
/// Before affinity and balancing: decides where a WebSocket upgrade may go. With destinations available it
/// lets the balancer pick, and when connecting fails or the chosen destination's breaker refuses, it tries
/// another (nothing reached a backend, so nothing is repeated). With none available in the route's cluster it
/// sends the session to the route's fallback cluster, tagged degraded, or answers at once: 503 with
/// <c>Retry-After</c> (when the first breaker lets a trial through, plus jitter), or 1013 on browser-facing
/// routes, exactly as admission control answers. Nothing waits in a queue.
/// </summary>
internal sealed partial class ResilienceMiddleware
{
    private readonly RequestDelegate _next;
    private readonly ResilienceOptions _options;
    private readonly DestinationBreakers _breakers;
    private readonly IProxyStateLookup _proxyState;
    private readonly UpgradeRejection _rejection;
    private readonly ResilienceMetrics _metrics;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<ResilienceMiddleware> _logger;

    // Clusters answering fast failures and routes in degraded mode, so each change is logged once, not per request.
    private readonly ConcurrentDictionary<string, bool> _outages = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _degradedRoutes = new(StringComparer.OrdinalIgnoreCase);

    public ResilienceMiddleware(
        RequestDelegate next,
        IOptions<ResilienceOptions> options,
        DestinationBreakers breakers,
        IProxyStateLookup proxyState,
        UpgradeRejection rejection,
        ResilienceMetrics metrics,
        TimeProvider timeProvider,
        ILogger<ResilienceMiddleware> logger)
    {
        _next = next;
        _options = options.Value;
        _breakers = breakers;
        _proxyState = proxyState;
        _rejection = rejection;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (!_options.Enabled || !WebSocketRequest.IsWebSocket(context))
        {
            return _next(context);
        }

        return ForwardAsync(context);
    }

    private async Task ForwardAsync(HttpContext context)
    {
        var feature = new ResilienceFeature();
        context.Features.Set(feature);
        var proxy = context.GetReverseProxyFeature();
        var route = proxy.Route.Config;
        var primaryCluster = proxy.Cluster?.Config.ClusterId ?? "";
        var candidates = proxy.AvailableDestinations;
        if (candidates.Count == 0 && !TryFallback(context, route, primaryCluster, feature, out candidates))
        {
            await FastFailAsync(context, route, primaryCluster);
            return;
        }

        NoteAvailable(route.RouteId, primaryCluster, feature.Degraded);
        for (var attempt = 1; ; attempt++)
        {
            proxy = context.GetReverseProxyFeature();
            proxy.AvailableDestinations = candidates;
            feature.Result = AttemptResult.Forwarded;
            await _next(context);

            if (feature.Result == AttemptResult.Forwarded || context.Response.HasStarted || feature.Destination is not { } failed)
            {
                return;
            }

            _metrics.Retried(feature.Breaker!.Key);
            candidates = Without(candidates, failed);
            if (candidates.Count == 0 && !feature.Degraded && TryFallback(context, route, primaryCluster, feature, out var fallback))
            {
                candidates = fallback;
            }

            if (candidates.Count == 0 || attempt >= _options.MaxConnectAttempts)
            {
                if (feature.Result == AttemptResult.BreakerRejected)
                {
                    await FastFailAsync(context, route, context.GetReverseProxyFeature().Cluster?.Config.ClusterId ?? primaryCluster);
                }

                // A connect failure keeps the forwarder's 502 (logged by ProxyErrorMiddleware).
                return;
            }

            Log.Retrying(_logger, failed.DestinationId, feature.Failure == BackendFailure.None ? "breaker open" : feature.Failure.ToTagValue(), route.RouteId);
            // Nothing was sent to the client: forget the failed attempt and let the balancer choose again.
            context.Features.Set<IForwarderErrorFeature>(null);
            context.GetReverseProxyFeature().ProxiedDestination = null;
            context.Response.Clear();
        }
    }

    private bool TryFallback(HttpContext context, RouteConfig route, string primaryCluster, ResilienceFeature feature, out IReadOnlyList<DestinationState> candidates)
    {
        candidates = [];
        if (RouteResiliencePolicy.FallbackClusterOf(route) is not { } fallbackId)
        {
            return false;
        }

        if (!_proxyState.TryGetCluster(fallbackId, out var fallback))
        {
            if (_degradedRoutes.TryAdd("missing:" + route.RouteId, true))
            {
                Log.FallbackMissing(_logger, route.RouteId, fallbackId);
            }

            return false;
        }

        if (fallback.DestinationsState.AvailableDestinations.Count == 0)
        {
            return false;
        }

        context.ReassignProxyRequest(fallback);
        feature.Degraded = true;
        candidates = context.GetReverseProxyFeature().AvailableDestinations;
        if (_degradedRoutes.TryAdd(route.RouteId, true))
        {
            Log.Degraded(_logger, route.RouteId, primaryCluster, fallbackId);
        }

        return true;
    }

    private void NoteAvailable(string routeId, string clusterId, bool degraded)
    {
        if (!degraded && _degradedRoutes.TryRemove(routeId, out _))
        {
            Log.DegradedEnded(_logger, routeId, clusterId);
        }

        if (!degraded && _outages.TryRemove(clusterId, out _))
        {
            Log.OutageEnded(_logger, clusterId);
        }
    }

    /// <summary>The refusal's reason on the upgrade span when no destination of the cluster can take a session.</summary>
    internal const string NoDestinationReason = "no_destination";

    private Task FastFailAsync(HttpContext context, RouteConfig route, string clusterId)
    {
        var retryAfter = RetryAfter(clusterId);
        _metrics.FastFailed(route.RouteId, clusterId);
        if (_outages.TryAdd(clusterId, true))
        {
            Log.Outage(_logger, clusterId, route.RouteId, (int)Math.Ceiling(retryAfter.TotalSeconds));
        }

        var seconds = (int)Math.Ceiling(retryAfter.TotalSeconds);
        return _rejection.RejectAsync(
            context,
            NoDestinationReason,
            StatusCodes.Status503ServiceUnavailable,
            retryAfter,
            $"No backend can take new sessions at the moment; retry after {seconds} s.",
            RouteAdmissionPolicy.For(route).BrowserFacing,
            _options.RejectionCloseTimeout);
    }

    /// <summary>Until the cluster's first open breaker lets a trial through, or the configured hint; plus jitter.</summary>
    private TimeSpan RetryAfter(string clusterId)
    {
        var now = _timeProvider.GetUtcNow();
        var soonest = TimeSpan.MaxValue;
        foreach (var breaker in _breakers.All)
        {
            if (string.Equals(breaker.Key.ClusterId, clusterId, StringComparison.OrdinalIgnoreCase) && breaker.ReopensAt - now is { } wait && wait > TimeSpan.Zero && wait < soonest)
            {
                soonest = wait;
            }
        }

        var baseline = soonest == TimeSpan.MaxValue ? _options.RetryAfter : TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(soonest.TotalSeconds)));
        return baseline + (_options.RetryAfterJitter * Random.Shared.NextDouble());
    }

    private static List<DestinationState> Without(IReadOnlyList<DestinationState> destinations, DestinationState failed)
    {
        var remaining = new List<DestinationState>(destinations.Count);
        foreach (var destination in destinations)
        {
            if (!ReferenceEquals(destination, failed))
            {
                remaining.Add(destination);
            }
        }

        return remaining;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Destination {DestinationId} could not take the upgrade on route {RouteId} ({Reason}); trying another destination.", EventName = "UpgradeRetried")]
        public static partial void Retrying(ILogger logger, string destinationId, string reason, string routeId);

        [LoggerMessage(2, LogLevel.Warning, "Cluster {ClusterId} has no destination available: new sessions on route {RouteId} and others are answered at once (503 or 1013, retry after {RetryAfterSeconds} s).", EventName = "ClusterUnavailable")]
        public static partial void Outage(ILogger logger, string clusterId, string routeId, int retryAfterSeconds);

        [LoggerMessage(3, LogLevel.Information, "Cluster {ClusterId} has destinations available again.", EventName = "ClusterAvailable")]
        public static partial void OutageEnded(ILogger logger, string clusterId);

        [LoggerMessage(4, LogLevel.Warning, "Route {RouteId}: cluster {ClusterId} has no destination available; new sessions go to fallback cluster {FallbackClusterId} (degraded).", EventName = "RouteDegraded")]
        public static partial void Degraded(ILogger logger, string routeId, string clusterId, string fallbackClusterId);

        [LoggerMessage(5, LogLevel.Information, "Route {RouteId}: cluster {ClusterId} serves new sessions again; degraded mode over (sessions on the fallback stay until they end).", EventName = "RouteRestored")]
        public static partial void DegradedEnded(ILogger logger, string routeId, string clusterId);

        [LoggerMessage(6, LogLevel.Warning, "Route {RouteId} names fallback cluster {FallbackClusterId}, which does not exist; no fallback.", EventName = "FallbackMissing")]
        public static partial void FallbackMissing(ILogger logger, string routeId, string fallbackClusterId);
    }
}
