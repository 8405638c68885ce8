using System.Net;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Admission;

/// <summary>Acceptance 4: per-route origin allow-lists against cross-site WebSocket hijacking.</summary>
public sealed class OriginTests : IAsyncLifetime
{
    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _strictRoute = "";

    public async Task InitializeAsync()
    {
        _backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("origins", _backend.Address);
        _strictRoute = settings.Route("strict", "/strict", cluster);
        settings[$"ReverseProxy:Routes:{_strictRoute}:Metadata:Gateway.AllowedOrigins"] = "https://app.example.com, https://*.example.org";
        var browser = settings.Route("strictbrowser", "/browser", cluster);
        settings[$"ReverseProxy:Routes:{browser}:Metadata:Gateway.AllowedOrigins"] = "https://app.example.com";
        settings[$"ReverseProxy:Routes:{browser}:Metadata:Gateway.BrowserFacing"] = "true";
        settings.Route("open", "/open", cluster);
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Theory]
    [InlineData("/strict", "https://app.example.com", true)]
    [InlineData("/strict", "https://chat.example.org", true)]
    [InlineData("/strict", null, true)]
    [InlineData("/strict", "https://evil.example.com", false)]
    [InlineData("/strict", "https://app.example.com.evil.net", false)]
    [InlineData("/strict", "http://app.example.com", false)]
    [InlineData("/strict", "null", false)]
    [InlineData("/browser", "https://evil.example.com", false)]
    [InlineData("/open", "https://evil.example.com", true)]
    public async Task Origin_AllowedOrForbidden_PerRoute(string path, string? origin, bool allowed)
    {
        var outcome = await UpgradeAttempt.RunAsync(
            _gateway.Ws(path + "/x"),
            headers: origin is null ? null : new Dictionary<string, string> { ["Origin"] = origin });
        using var socket = outcome.Socket;
        if (allowed)
        {
            Assert.True(outcome.Open, outcome.ToString());
            await Eventually.EqualAsync(1, () => _backend.SessionsAccepted);
        }
        else
        {
            // 403 even on a browser-facing route: a hijacking page gets no socket at all, not a 1013.
            Assert.Equal(HttpStatusCode.Forbidden, outcome.Status);
            Assert.Null(outcome.RetryAfter);
            Assert.Equal(0, _backend.ConnectionsAccepted);
            var metrics = await _gateway.MetricsAsync();
            Assert.Equal(1, metrics.Sum("gateway_admission_rejected_total", ("reason", "origin")));
        }
    }
}
