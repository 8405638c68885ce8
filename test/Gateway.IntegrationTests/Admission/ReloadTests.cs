using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Xunit.Abstractions;

namespace Gateway.IntegrationTests.Admission;

/// <summary>
/// Acceptance 5: limits change through a configuration reload (a JSON file, as a Kubernetes ConfigMap mount
/// delivers it), without a restart and without touching open sessions.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class ReloadTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"gateway-admission-{Guid.NewGuid():N}.json");
    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;

    public async Task InitializeAsync()
    {
        WriteLimits(permitsPerSecond: "1000", burst: 1000);
        _backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        settings.Route("reload", "/r", settings.Cluster("reload", _backend.Address));
        _gateway = await GatewayInstance.StartAsync(settings, configure: config => config.AddJsonFile(_file, optional: false, reloadOnChange: true));
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
        File.Delete(_file);
    }

    [Fact]
    public async Task LoweringTheRate_TakesEffectWithinOneSecond_OpenSessionsUntouched_InvalidReloadKeepsLimits()
    {
        using var held = (await UpgradeAttempt.RunAsync(_gateway.Ws("/r/held"))).Socket!;
        for (var i = 0; i < 20; i++)
        {
            await AdmitAndCloseAsync($"/r/before{i}");
        }

        // 2/s with a burst of 2: at most 2 upgrades pass at once, then one per half second.
        var written = Stopwatch.StartNew();
        WriteLimits(permitsPerSecond: "2", burst: 2);
        TimeSpan? firstRefusal = null;
        while (written.Elapsed < TimeSpan.FromSeconds(3))
        {
            var outcome = await UpgradeAttempt.RunAsync(_gateway.Ws("/r/after"));
            if (outcome.Status == HttpStatusCode.ServiceUnavailable)
            {
                firstRefusal = written.Elapsed;
                break;
            }

            await outcome.Socket!.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            outcome.Socket.Dispose();
            await Task.Delay(20);
        }

        Assert.True(firstRefusal is not null, "The lowered rate never refused an upgrade.");
        output.WriteLine($"First refusal {firstRefusal.Value.TotalMilliseconds:F0} ms after the file was written.");
        Assert.True(firstRefusal < TimeSpan.FromSeconds(1), $"The lowered rate took effect after {firstRefusal.Value.TotalMilliseconds:F0} ms.");
        Assert.Contains(_gateway.Logs.Entries, e => e.EventId.Name == "AdmissionReloaded" && e.Message.Contains("global 2/s burst 2", StringComparison.Ordinal));

        // The session opened before the reload is still there and still echoes.
        Assert.Equal(WebSocketState.Open, held.State);
        var payload = Encoding.UTF8.GetBytes("still here");
        Assert.Equal(payload, await held.EchoAsync(payload, WebSocketMessageType.Text));

        // An invalid file is refused with a log line; the running limits (2/s) stay and the gateway keeps serving.
        File.WriteAllText(_file, """{ "Gateway": { "Admission": { "Rate": { "PermitsPerSecond": -5 } } } }""");
        await Eventually.EqualAsync(true, () => _gateway.Logs.Entries.Any(e => e.EventId.Name == "AdmissionReloadRejected" && e.Message.Contains("PermitsPerSecond", StringComparison.Ordinal)));
        var metrics = await _gateway.MetricsAsync();
        Assert.Equal(2, metrics.Sum("gateway_admission_refill_rate"));
        Assert.Equal(payload, await held.EchoAsync(payload, WebSocketMessageType.Text));
    }

    private async Task AdmitAndCloseAsync(string path)
    {
        var outcome = await UpgradeAttempt.RunAsync(_gateway.Ws(path));
        Assert.True(outcome.Open, outcome.ToString());
        await outcome.Socket!.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        outcome.Socket.Dispose();
    }

    private void WriteLimits(string permitsPerSecond, int burst)
        => File.WriteAllText(_file, $$"""
            { "Gateway": { "Admission": { "Rate": { "PermitsPerSecond": {{permitsPerSecond}}, "MinimumPermitsPerSecond": {{permitsPerSecond}}, "Burst": {{burst}} } } } }
            """);
}
