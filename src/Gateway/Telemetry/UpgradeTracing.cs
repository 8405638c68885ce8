using System.Diagnostics;
using Gateway.Sessions;
using Microsoft.AspNetCore.Http.Features;
using OpenTelemetry.Instrumentation.AspNetCore;
using Polly.CircuitBreaker;

namespace Gateway.Telemetry;

/// <summary>
/// The upgrade span: ASP.NET Core's server span of the upgrade request, recorded by
/// OpenTelemetry.Instrumentation.AspNetCore, with the gateway's decisions as attributes, ended at the handshake
/// on both paths (<see cref="Handshake"/>), so no session keeps it open. Every attribute name is defined here;
/// docs/operations.md lists them.
/// </summary>
/// <remarks>
/// Each call does nothing unless the span is being recorded: without an OTLP endpoint no tracer listens, and the
/// <see cref="Activity"/> ASP.NET Core still creates for log correlation has no source, so it is never tagged.
/// </remarks>
internal static class UpgradeTracing
{
    /// <summary>The ActivitySource ASP.NET Core hosting creates request activities from.</summary>
    public const string AspNetCoreSource = "Microsoft.AspNetCore";

    public const string Route = "gateway.route";
    public const string Cluster = "gateway.cluster";
    public const string Destination = "gateway.destination";
    public const string AdmissionDecision = "gateway.admission.decision";
    public const string RefusalReason = "gateway.refusal.reason";
    public const string RefusalCloseCode = "gateway.refusal.close_code";
    public const string RetryAfter = "gateway.refusal.retry_after";
    public const string BreakerState = "gateway.breaker.state";
    public const string ConnectDuration = "gateway.backend.connect.duration";
    public const string HandshakeDuration = "gateway.backend.handshake.duration";
    public const string SessionId = "gateway.session.id";
    public const string SessionPath = "gateway.session.path";
    public const string StatusCode = "http.response.status_code";
    public const string HttpRoute = "http.route";

    public static void ConfigureAspNetCore(AspNetCoreTraceInstrumentationOptions options)
    {
        // The exception of a failed request (the proxy's errors are answered, not thrown) is worth its event.
        options.RecordException = true;
        // Probes and scrapes (/healthz, /readyz, /metrics every few seconds) are not traced.
        options.Filter = static context => !context.RequestServices.GetRequiredService<Hosting.GatewayListeners>().IsManagement(context);
    }

    /// <summary>The request's span when it is being recorded, else null.</summary>
    public static Activity? Of(HttpContext context) => Recording(context.Features.Get<IHttpActivityFeature>()?.Activity);

    /// <summary><paramref name="activity"/> if it is a recorded upgrade (ASP.NET Core request) span, else null.</summary>
    public static Activity? Recording(Activity? activity)
        => activity is { IsAllDataRequested: true, IsStopped: false } && activity.Source.Name == AspNetCoreSource ? activity : null;

    public static void Admission(HttpContext context, string route, string? cluster, bool admitted)
    {
        if (Of(context) is { } span)
        {
            span.SetTag(Route, route);
            span.SetTag(Cluster, cluster);
            span.SetTag(AdmissionDecision, admitted ? "admitted" : "rejected");
        }
    }

    /// <summary>The upgrade was refused (status 403/429/503..., or 1013 after an accept on a browser-facing route).</summary>
    public static void Refused(HttpContext context, string reason, int statusCode, int retryAfterSeconds, bool closed)
    {
        if (Of(context) is { } span)
        {
            span.SetTag(RefusalReason, reason);
            if (retryAfterSeconds > 0)
            {
                span.SetTag(RetryAfter, retryAfterSeconds);
            }

            if (closed)
            {
                span.SetTag(RefusalCloseCode, (int)Frames.CloseFrame.TryAgainLater);
            }
            else if (!context.Response.HasStarted)
            {
                // (A response already under way is aborted instead: no status is sent, none is recorded.)
                span.SetTag(StatusCode, statusCode);
            }

            span.SetStatus(ActivityStatusCode.Error, reason);
        }
    }

    /// <summary>The destination picked for this attempt and its breaker's state (the last attempt's wins).</summary>
    public static void Breaker(HttpContext context, string destination, CircuitState state)
    {
        if (Of(context) is { } span)
        {
            span.SetTag(Destination, destination);
            span.SetTag(BreakerState, ResilienceMetrics.TagOf(state));
        }
    }

    /// <summary>The lean connector's timings, read from the current activity (the request's).</summary>
    public static void BackendTimings(TimeSpan connect, TimeSpan handshake)
    {
        if (Recording(Activity.Current) is { } span)
        {
            span.SetTag(ConnectDuration, connect.TotalSeconds);
            span.SetTag(HandshakeDuration, handshake.TotalSeconds);
        }
    }

    /// <summary>
    /// The handshake is done (101, or 200 to an extended CONNECT): the session's attributes are added and the span
    /// ends here, on both paths. On the YARP path the request lives on as the session; ASP.NET Core's own stop at its
    /// end is then a no-op (an activity stops once), so nothing is exported a day later.
    /// </summary>
    public static void Handshake(HttpContext context, Session session)
    {
        if (Of(context) is not { } span)
        {
            return;
        }

        span.SetTag(Route, session.RouteId);
        span.SetTag(Cluster, session.ClusterId);
        span.SetTag(Destination, session.DestinationId);
        span.SetTag(SessionId, session.Id);
        span.SetTag(SessionPath, session.Path.ToTagValue());
        span.SetTag(StatusCode, context.Response.StatusCode);
        // What the instrumentation would name the span at the request's end, which is too late on the YARP path.
        if ((context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText is { } pattern)
        {
            span.SetTag(HttpRoute, pattern);
            span.DisplayName = $"{context.Request.Method} {pattern}";
        }

        span.Stop();
    }
}
