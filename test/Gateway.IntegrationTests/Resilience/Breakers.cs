using System.Net;
using System.Net.Sockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Resilience;

/// <summary>Settings and probes shared by the backend-protection tests.</summary>
internal static class Breakers
{
    /// <summary>
    /// A loopback port nothing listens on, so connecting is refused; it stays bound (not listening) until disposed,
    /// so no other test's listener on port 0 can be given it meanwhile.
    /// </summary>
    public static RefusingPort RefusingPort() => new();

    /// <summary>
    /// Small, fast breaker settings for one cluster (the defaults need 10 attempts and break for 15 s). The handshake
    /// timeout stays generous unless a test is about it: a Debug build's first forward under parallel tests can be slow.
    /// </summary>
    public static void Configure(
        GatewaySettings settings,
        string cluster,
        int minimumThroughput = 2,
        string breakDuration = "00:00:02",
        string handshakeTimeout = "00:00:05",
        string earlyAbortWindow = "00:00:01")
    {
        var prefix = $"Gateway:Resilience:Clusters:{cluster}:";
        settings[prefix + "FailureRatio"] = "0.5";
        settings[prefix + "MinimumThroughput"] = minimumThroughput.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings[prefix + "SamplingDuration"] = "00:00:30";
        settings[prefix + "BreakDuration"] = breakDuration;
        settings[prefix + "HandshakeTimeout"] = handshakeTimeout;
        settings[prefix + "EarlyAbortWindow"] = earlyAbortWindow;
    }

    public static async Task<double> StateAsync(GatewayInstance gateway, string cluster, string destination, string state)
        => (await gateway.MetricsAsync()).Sum("gateway_breaker_state", ("cluster", cluster), ("destination", destination), ("state", state));

    public static async Task<double> FailuresAsync(GatewayInstance gateway, string cluster, string destination, string? reason = null)
    {
        var metrics = await gateway.MetricsAsync();
        return reason is null
            ? metrics.Sum("gateway_breaker_failures_total", ("cluster", cluster), ("destination", destination))
            : metrics.Sum("gateway_breaker_failures_total", ("cluster", cluster), ("destination", destination), ("reason", reason));
    }
}

/// <summary>A bound, never-listening loopback socket: connections to its port are refused.</summary>
internal sealed class RefusingPort : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public RefusingPort()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
    }

    public int Port { get; }

    public string Address => $"http://127.0.0.1:{Port}";

    public void Dispose() => _socket.Dispose();
}
