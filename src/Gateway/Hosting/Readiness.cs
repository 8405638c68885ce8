using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Gateway.Hosting;

/// <summary>Whether the load balancer should send this pod new sessions: after start, until shutdown begins.</summary>
internal sealed class ReadinessState
{
    private volatile string? _notReadyReason = "starting";
    private volatile bool _shuttingDown;

    public bool IsReady => _notReadyReason is null;

    /// <summary>Shutdown has begun: the pod is draining and takes no new sessions.</summary>
    public bool IsShuttingDown => _shuttingDown;

    public string? NotReadyReason => _notReadyReason;

    public void MarkReady() => _notReadyReason = null;

    public void MarkNotReady(string reason) => _notReadyReason = reason;

    public void BeginShutdown()
    {
        _shuttingDown = true;
        _notReadyReason = "shutting down";
    }
}

internal sealed class ReadinessHealthCheck : IHealthCheck
{
    public const string Tag = "ready";

    private readonly ReadinessState _state;

    public ReadinessHealthCheck(ReadinessState state)
    {
        _state = state;
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(_state.NotReadyReason is { } reason ? HealthCheckResult.Unhealthy(reason) : HealthCheckResult.Healthy());
}
