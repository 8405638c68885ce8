using System.Net;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Resilience;

/// <summary>
/// Issue 14, item 4: failures a client can provoke (a crafted upgrade the backend answers 500) count against a
/// destination's breaker at most <c>Breaker:MaxFailuresPerClient</c> times per client and sampling window, so one
/// client cannot open it for everybody; a backend failing for many clients opens it after as many failures as
/// ever. Each loopback source address 127.0.0.x is a different client.
/// </summary>
public sealed class NoisyClientTests
{
    // FailureRatio 0.5 of 6: three failures needed at least; one client counts for 2 at most (the default).
    private const int MinimumThroughput = 6;

    [Fact]
    public async Task OneClient_ProvokingServerErrors_DoesNotOpenTheBreakerForOthers()
    {
        await using var backend = await FaultyBackend.StartAsync(BackendFault.Status500WhenAsked);
        await using var gateway = await StartAsync(backend, out var cluster);
        var noisy = Client(5);

        // Before the cap, the seventh of these was answered 503 and so was everybody else, for the whole break.
        for (var i = 0; i < 20; i++)
        {
            var outcome = await UpgradeAttempt.RunAsync(gateway.Ws("/noisy?crash"), noisy);
            Assert.True(outcome.Status == HttpStatusCode.InternalServerError, $"attempt {i + 1}: {outcome}");
        }

        Assert.Equal(20, backend.Requests);
        Assert.Equal(20, await Breakers.FailuresAsync(gateway, cluster, "d1", "status_5xx"));
        Assert.Equal(18, await UncountedAsync(gateway, cluster));
        Assert.Equal(1, await Breakers.StateAsync(gateway, cluster, "d1", "closed"));

        // Another client gets its session; so does the noisy one, when it asks for something the backend can do.
        await EchoAsync(gateway, Client(6));
        await EchoAsync(gateway, noisy);
        Assert.Equal(0, (await gateway.MetricsAsync()).Sum("gateway_upgrades_fast_failed_total"));
    }

    [Fact]
    public async Task ManyClients_FailingUpgrades_OpenTheBreaker_AfterAsManyFailuresAsBefore()
    {
        await using var backend = await FaultyBackend.StartAsync(BackendFault.Status500WhenAsked);
        await using var gateway = await StartAsync(backend, out var cluster);

        for (var client = 2; client < 2 + MinimumThroughput; client++)
        {
            Assert.Equal(0, await Breakers.StateAsync(gateway, cluster, "d1", "open"));
            var outcome = await UpgradeAttempt.RunAsync(gateway.Ws("/noisy?crash"), Client(client));
            Assert.True(outcome.Status == HttpStatusCode.InternalServerError, $"client {client}: {outcome}");
        }

        // Opened by the sixth failure, as without the cap: the next client, asking for nothing wrong, is answered at once.
        await Eventually.EqualAsync(1.0, () => Breakers.StateAsync(gateway, cluster, "d1", "open"), TimeSpan.FromSeconds(5));
        var refused = await UpgradeAttempt.RunAsync(gateway.Ws("/noisy"), Client(8));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        Assert.NotNull(refused.RetryAfter);
        Assert.Equal(MinimumThroughput, backend.Requests);
        Assert.Equal(0, await UncountedAsync(gateway, cluster));
    }

    [Fact]
    public async Task NoisyClient_FailuresPastItsCap_DoNotHoldTheBreakerClosed()
    {
        await using var backend = await FaultyBackend.StartAsync(BackendFault.Status500WhenAsked);
        await using var gateway = await StartAsync(backend, out var cluster);

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.InternalServerError, (await UpgradeAttempt.RunAsync(gateway.Ws("/noisy?crash"), Client(9))).Status);
        }

        // Its first two count as failures; the other 18 count as nothing at all (not as successes that would dilute the
        // failure ratio): four more clients failing make six failures in six counted attempts, and the breaker opens.
        for (var client = 2; client < 6; client++)
        {
            Assert.Equal(1, await Breakers.StateAsync(gateway, cluster, "d1", "closed"));
            Assert.Equal(HttpStatusCode.InternalServerError, (await UpgradeAttempt.RunAsync(gateway.Ws("/noisy?crash"), Client(client))).Status);
        }

        await Eventually.EqualAsync(1.0, () => Breakers.StateAsync(gateway, cluster, "d1", "open"), TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await UpgradeAttempt.RunAsync(gateway.Ws("/noisy"), Client(7))).Status);
        Assert.Equal(24, backend.Requests);
    }

    private static Task<GatewayInstance> StartAsync(FaultyBackend backend, out string cluster)
    {
        var settings = new GatewaySettings();
        cluster = settings.Cluster("noisy", backend.Address);
        Breakers.Configure(settings, cluster, minimumThroughput: MinimumThroughput, breakDuration: "00:00:30");
        settings.Route("noisy", "/noisy", cluster);
        return GatewayInstance.StartAsync(settings);
    }

    private static IPAddress Client(int lastByte) => new([127, 0, 0, (byte)lastByte]);

    private static async Task EchoAsync(GatewayInstance gateway, IPAddress client)
    {
        var outcome = await UpgradeAttempt.RunAsync(gateway.Ws("/noisy"), client);
        Assert.True(outcome.Open, $"{client}: {outcome}");
        using var socket = outcome.Socket!;
        Assert.Equal([7], await socket.EchoAsync([7], WebSocketMessageType.Binary));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    private static async Task<double> UncountedAsync(GatewayInstance gateway, string cluster)
        => (await gateway.MetricsAsync()).Sum("gateway_breaker_failures_uncounted_total", ("cluster", cluster), ("destination", "d1"));
}
