namespace Gateway.Telemetry;

/// <summary>GET /metrics on the management listener.</summary>
internal static class MetricsEndpoint
{
    public static Task WriteAsync(HttpContext context)
    {
        var telemetry = context.RequestServices.GetRequiredService<GatewayTelemetry>();
        var text = telemetry.Exporter.Scrape();
        context.Response.ContentType = PrometheusTextWriter.ContentType;
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync(text, context.RequestAborted);
    }
}
