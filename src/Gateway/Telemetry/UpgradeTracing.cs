using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using OpenTelemetry.Instrumentation.AspNetCore;

namespace Gateway.Telemetry;

/// <summary>
/// The upgrade span: ASP.NET Core's server span of the upgrade request, recorded by
/// OpenTelemetry.Instrumentation.AspNetCore, with the gateway's decisions as attributes and ended at the
/// handshake on both paths.
/// </summary>
internal static class UpgradeTracing
{
    public static void ConfigureAspNetCore(AspNetCoreTraceInstrumentationOptions options)
    {
    }

    /// <summary>The request's span when it is being recorded, else null (no tracing, or not sampled).</summary>
    public static Activity? Of(HttpContext context)
        => context.Features.Get<IHttpActivityFeature>()?.Activity is { IsAllDataRequested: true } activity ? activity : null;
}
