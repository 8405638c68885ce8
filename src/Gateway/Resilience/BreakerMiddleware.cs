using Gateway.Admission;
using Gateway.Sessions;
using Gateway.Telemetry;
using Polly;
using Polly.CircuitBreaker;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Resilience;

/// <summary>
/// Runs after YARP's balancer has picked a destination: the upgrade goes through that destination's circuit
/// breaker as one Polly execution, which lasts until the outcome is known (see <see cref="UpgradeAttempt"/>).
/// A refusing breaker means no forward at all; the outer <see cref="ResilienceMiddleware"/> picks another
/// destination or answers at once. An upgrade from a client that already had its share of failures counted against
/// the destination (<see cref="ClientFailureLedger"/>) goes past the breaker instead, uncounted, and only while it is
/// closed.
/// </summary>
internal sealed partial class BreakerMiddleware
{
    private readonly RequestDelegate _next;
    private readonly DestinationBreakers _breakers;
    private readonly UpgradeWatch _watch;
    private readonly AdmissionController _admission;
    private readonly ResilienceMetrics _metrics;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<BreakerMiddleware> _logger;
    private readonly Action<UpgradeAttempt> _reportFailure;

    public BreakerMiddleware(RequestDelegate next, DestinationBreakers breakers, UpgradeWatch watch, AdmissionController admission, ResilienceMetrics metrics, TimeProvider timeProvider, ILogger<BreakerMiddleware> logger)
    {
        _next = next;
        _breakers = breakers;
        _watch = watch;
        _admission = admission;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _logger = logger;
        _reportFailure = ReportFailure;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var feature = context.Features.Get<ResilienceFeature>();
        var proxy = context.GetReverseProxyFeature();
        if (feature is null || proxy.AvailableDestinations.Count == 0 || proxy.Cluster is null)
        {
            return _next(context);
        }

        var destination = proxy.AvailableDestinations[0];
        var breaker = _breakers.Get(proxy.Cluster.Config.ClusterId, destination.DestinationId);
        feature.Destination = destination;
        feature.Breaker = breaker;
        UpgradeTracing.Breaker(context, destination.DestinationId, breaker.Circuit);
        feature.Failure = BackendFailure.None;
        return ForwardThroughBreakerAsync(context, feature, breaker);
    }

    private async Task ForwardThroughBreakerAsync(HttpContext context, ResilienceFeature feature, DestinationBreaker breaker)
    {
        // The identity admission established (a trusted proxy's forwarding header, or the peer); resolved the same
        // way when admission control is off.
        var client = context.Features.Get<IClientAddressFeature>()?.ClientAddress ?? _admission.ResolveClient(context);
        var isExecution = !breaker.Ledger.HasReachedCap(client);
        if (!isExecution && breaker.Circuit != CircuitState.Closed)
        {
            // Past its cap the client may not be the half-open trial: its failure would not count, its success would
            // close the breaker.
            Refuse(feature, breaker);
            return;
        }

        var upgrade = context.Features.Get<ISessionUpgradeFeature>();
        var attempt = new UpgradeAttempt(breaker, upgrade, _timeProvider, context.RequestAborted, client, isExecution);
        var resilienceContext = isExecution ? ResilienceContextPool.Shared.Get() : null;
        var handedOver = false;
        try
        {
            ValueTask<Outcome<BackendFailure>> execution;
            if (resilienceContext is null)
            {
                execution = attempt.Outcome;
            }
            else
            {
                resilienceContext.Properties.Set(DestinationBreaker.AttemptProperty, attempt);
                using (ExecutionContext.SuppressFlow())
                {
                    // The execution waits for the outcome, on the lean path past the request's end: it must not hold the
                    // request's execution context (its activity, its log scope) while it does.
                    execution = breaker.Pipeline.ExecuteOutcomeAsync(static (_, attempt) => attempt.Outcome, resilienceContext, attempt);
                }

                if (execution.IsCompleted)
                {
                    // The callback waits for an outcome that cannot exist yet: completing at once means the breaker refused.
                    _ = execution.Result;
                    Refuse(feature, breaker);
                    return;
                }
            }

            _watch.Add(attempt);
            var requestAborted = context.RequestAborted;
            context.RequestAborted = attempt.Token;
            try
            {
                await _next(context);
            }
            finally
            {
                context.RequestAborted = requestAborted;
                if (upgrade is { OutlivesRequest: true })
                {
                    // The lean path: the session goes on without this request, and so does the judgement of its first
                    // moments (the watch sees it end inside the early-abort window, or outlive it), counted and logged
                    // when it is known. The execution completes by itself; its context is not returned to the pool
                    // (Polly may still be using it when the outcome is reported).
                    attempt.LeaveRequest(_reportFailure);
                    handedOver = true;
                }
                else if (!attempt.IsResolved)
                {
                    attempt.Resolve(Judge(context, attempt, upgrade));
                }
            }

            if (handedOver)
            {
                feature.Result = AttemptResult.Forwarded;
                feature.Failure = BackendFailure.None;
                return;
            }

            var failure = (await execution).Result;
            ReportFailure(attempt);
            feature.Failure = failure;
            if (failure == BackendFailure.None)
            {
                feature.Result = AttemptResult.Forwarded;
                return;
            }

            if (attempt.HandshakeTimedOut && !context.Response.HasStarted)
            {
                // The forwarder saw its abort token fire and took it for the client leaving; it was the backend.
                context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
            }

            feature.Result = failure.IsConnectFailure() && attempt.Session is null && !context.Response.HasStarted
                ? AttemptResult.ConnectFailed
                : AttemptResult.Forwarded;
        }
        finally
        {
            if (!handedOver)
            {
                attempt.Dispose();
                if (resilienceContext is not null)
                {
                    ResilienceContextPool.Shared.Return(resilienceContext);
                }
            }
        }
    }

    private void Refuse(ResilienceFeature feature, DestinationBreaker breaker)
    {
        feature.Result = AttemptResult.BreakerRejected;
        Log.Refused(_logger, breaker.Key.ClusterId, breaker.Key.DestinationId);
    }

    /// <summary>Counts and logs an attempt that failed on the backend's side, once its outcome is known.</summary>
    private void ReportFailure(UpgradeAttempt attempt)
    {
        var failure = attempt.Failure;
        if (failure == BackendFailure.None)
        {
            return;
        }

        var breaker = attempt.Breaker;
        var counted = attempt.CountsAsFailure;
        _metrics.Failure(breaker.Key, failure);
        if (!counted)
        {
            _metrics.Uncounted(breaker.Key);
        }
        else if (!attempt.IsExecution)
        {
            // A failure that counts whoever caused it (connecting failed) for an attempt the breaker did not see: tell it now.
            _ = breaker.RecordAsync(failure);
        }

        Log.Failed(_logger, breaker.Key.ClusterId, breaker.Key.DestinationId, failure.ToTagValue(), counted, breaker.Circuit.ToString());
    }

    private static BackendFailure Judge(HttpContext context, UpgradeAttempt attempt, ISessionUpgradeFeature? upgrade)
    {
        if (attempt.Session is { } session)
        {
            // Ended inside the early-abort window (otherwise the watch would have resolved it).
            return upgrade!.JudgeEnd(session) == SessionCloseReason.BackendLost ? BackendFailure.EarlyAbort : BackendFailure.None;
        }

        var error = context.Features.Get<IForwarderErrorFeature>();
        return BackendFailures.Classify(error?.Error, error?.Exception, context.Response.StatusCode);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Circuit breaker of destination {DestinationId} (cluster {ClusterId}) refused an upgrade.", EventName = "BreakerRefused")]
        public static partial void Refused(ILogger logger, string clusterId, string destinationId);

        [LoggerMessage(2, LogLevel.Information, "Upgrade to destination {DestinationId} (cluster {ClusterId}) failed: {Failure}; counted by the breaker {Counted}; breaker {CircuitState}.", EventName = "UpgradeFailed")]
        public static partial void Failed(ILogger logger, string clusterId, string destinationId, string failure, bool counted, string circuitState);
    }
}
