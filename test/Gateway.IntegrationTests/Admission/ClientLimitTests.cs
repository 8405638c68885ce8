using System.Net;
using Gateway.IntegrationTests.Infrastructure;
using Gateway.Sessions;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.IntegrationTests.Admission;

/// <summary>
/// Acceptance 3: a client over its session cap gets 429 while another client is admitted; the client is the TCP
/// peer unless the peer is a trusted proxy. Each loopback address 127.0.0.x is a different client.
/// </summary>
public sealed class ClientLimitTests : IAsyncLifetime
{
    private static readonly IPAddress ClientA = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress ClientB = IPAddress.Parse("127.0.0.3");
    private static readonly IPAddress TrustedProxy = IPAddress.Parse("127.0.0.4");

    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _routeId = "";
    private readonly List<UpgradeOutcome> _open = [];

    public async Task InitializeAsync()
    {
        _backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        _routeId = settings.Route("clients", "/c", settings.Cluster("clients", _backend.Address));
        settings["Gateway:Admission:PerClient:MaxSessions"] = "2";
        settings["Gateway:Admission:TrustedProxies:0"] = "127.0.0.4/32";
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        foreach (var outcome in _open)
        {
            outcome.Socket?.Dispose();
        }

        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task SessionCap_OneClientOver_Gets429_AnotherIsAdmitted()
    {
        await AdmitAsync(ClientA);
        await AdmitAsync(ClientA);
        var refused = await AttemptAsync(ClientA);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.Status);
        Assert.NotNull(refused.RetryAfter);
        await AdmitAsync(ClientB);

        var metrics = await _gateway.MetricsAsync();
        Assert.Equal(1, metrics.Sum("gateway_admission_rejected_total", ("route", _routeId), ("reason", "client_sessions")));
        Assert.Equal(3, _backend.SessionsAccepted);
    }

    [Fact]
    public async Task SpoofedForwardedFor_FromAnUntrustedPeer_DoesNotChangeTheIdentity()
    {
        await AdmitAsync(ClientA);
        await AdmitAsync(ClientA, forwardedFor: "198.51.100.1");
        Assert.Equal(HttpStatusCode.TooManyRequests, (await AttemptAsync(ClientA, forwardedFor: "198.51.100.2")).Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await AttemptAsync(ClientA, forwardedFor: "127.0.0.4, 198.51.100.3")).Status);
        var sessions = _gateway.Services.GetRequiredService<SessionRegistry>().Sessions.ToList();
        Assert.All(sessions, session => Assert.Equal(ClientA, Normalize(session.ClientAddress)));
    }

    [Fact]
    public async Task ForwardedFor_FromATrustedProxy_IsTheIdentity()
    {
        // Through the trusted proxy, two different clients with two sessions each...
        await AdmitAsync(TrustedProxy, forwardedFor: "198.51.100.1");
        await AdmitAsync(TrustedProxy, forwardedFor: "198.51.100.1");
        await AdmitAsync(TrustedProxy, forwardedFor: "6.6.6.6, 198.51.100.2");
        await AdmitAsync(TrustedProxy, forwardedFor: "198.51.100.2");
        // ...each then at its own cap, though the proxy itself has four sessions open.
        Assert.Equal(HttpStatusCode.TooManyRequests, (await AttemptAsync(TrustedProxy, forwardedFor: "198.51.100.1")).Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await AttemptAsync(TrustedProxy, forwardedFor: "7.7.7.7, 198.51.100.2")).Status);
        await AdmitAsync(TrustedProxy, forwardedFor: "198.51.100.3");

        // The session records the client, not the proxy.
        var clients = _gateway.Services.GetRequiredService<SessionRegistry>().Sessions.Select(s => Normalize(s.ClientAddress)!.ToString()).Order().ToList();
        Assert.Equal(["198.51.100.1", "198.51.100.1", "198.51.100.2", "198.51.100.2", "198.51.100.3"], clients);
    }

    private async Task AdmitAsync(IPAddress source, string? forwardedFor = null)
    {
        var outcome = await AttemptAsync(source, forwardedFor);
        Assert.True(outcome.Open, $"from {source} (X-Forwarded-For {forwardedFor}): {outcome}");
        _open.Add(outcome);
    }

    private Task<UpgradeOutcome> AttemptAsync(IPAddress source, string? forwardedFor = null)
        => UpgradeAttempt.RunAsync(
            _gateway.Ws("/c/x"),
            source,
            forwardedFor is null ? null : new Dictionary<string, string> { ["X-Forwarded-For"] = forwardedFor });

    private static IPAddress? Normalize(IPAddress? address) => address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
}
