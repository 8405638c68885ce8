using Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Hosting;

public sealed class StartupValidatorTests
{
    [Fact]
    public void Build_ManyProblemsAcrossSections_ReportsEveryOneOfThem()
    {
        var exception = Assert.Throws<GatewayConfigurationException>(() => Build(new Dictionary<string, string?>
        {
            ["Gateway:Server:Public:Address"] = "not-an-ip",
            ["Gateway:Server:Public:Port"] = "9000",
            ["Gateway:Server:Management:Port"] = "9000",
            ["Gateway:Server:PublicH2c:Port"] = "9001",
            ["Gateway:Server:PublicH2c:Tls:CertificateFile"] = "/nonexistent/tls.crt",
            ["Gateway:Server:PublicH2c:Tls:KeyFile"] = "/nonexistent/tls.key",
            ["Gateway:Sessions:IdleTimeout"] = "banana",
            ["Gateway:Proxy:ConnectTimeout"] = "00:00:00",
            ["ReverseProxy:Routes:nomatch:ClusterId"] = "c1",
            ["ReverseProxy:Clusters:c1:Destinations:d1:Address"] = "http://127.0.0.1:1",
            ["ReverseProxy:Clusters:c1:Metadata:Gateway.IdleTimeout"] = "later",
        }));

        var problems = exception.Problems;
        Assert.Contains(problems, p => p.Contains("Public.Address 'not-an-ip'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Public.Port and Management.Port are all 9000", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("PublicH2c.Tls", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("PublicH2c.Tls.CertificateFile '/nonexistent/tls.crt' does not exist", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Gateway:Sessions:IdleTimeout", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Gateway:Proxy:", StringComparison.Ordinal) && p.Contains("ConnectTimeout", StringComparison.Ordinal));
        // YARP's own validator, reported beside ours: a route must match something.
        Assert.Contains(problems, p => p.StartsWith("ReverseProxy:Routes:nomatch:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ReverseProxy:Clusters:c1:", StringComparison.Ordinal) && p.Contains("'later'", StringComparison.Ordinal));
        Assert.StartsWith($"The gateway configuration is invalid ({problems.Count} problems):", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_AdmissionProblems_AreReportedWithTheRest()
    {
        var exception = Assert.Throws<GatewayConfigurationException>(() => Build(new Dictionary<string, string?>
        {
            ["Gateway:Admission:Rate:PermitsPerSecond"] = "0",
            ["Gateway:Admission:Rate:Burst"] = "10",
            ["Gateway:Admission:Watermarks:Low"] = "500",
            ["Gateway:Admission:Watermarks:High"] = "100",
            ["Gateway:Admission:Watermarks:Critical"] = "1000",
            ["Gateway:Admission:TrustedProxies:0"] = "10.0.0.0/40",
            ["ReverseProxy:Routes:r:ClusterId"] = "c",
            ["ReverseProxy:Routes:r:Match:Path"] = "/chat",
            ["ReverseProxy:Routes:r:Metadata:Gateway.Priority"] = "high",
            ["ReverseProxy:Routes:r:Metadata:Gateway.AllowedOrigins"] = "app.example.com",
            ["ReverseProxy:Clusters:c:Destinations:d1:Address"] = "http://127.0.0.1:1",
        }));

        var problems = exception.Problems;
        Assert.Contains(problems, p => p.StartsWith("Gateway:Admission:", StringComparison.Ordinal) && p.Contains("PermitsPerSecond", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Low <= High <= Critical (resolved: Low 500, High 100, Critical 1000)", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'10.0.0.0/40'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ReverseProxy:Routes:r:", StringComparison.Ordinal) && p.Contains("'Gateway.Priority' = 'high'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ReverseProxy:Routes:r:", StringComparison.Ordinal) && p.Contains("'app.example.com' is not an origin", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_ResilienceProblems_AreReportedWithTheRest()
    {
        var exception = Assert.Throws<GatewayConfigurationException>(() => Build(new Dictionary<string, string?>
        {
            ["Gateway:Resilience:Breaker:FailureRatio"] = "1.5",
            ["Gateway:Resilience:Breaker:BreakDuration"] = "00:00:00.100",
            ["Gateway:Resilience:HandshakeTimeout"] = "00:00:00",
            ["Gateway:Resilience:Clusters:c:MinimumThroughput"] = "1",
            ["Gateway:Resilience:Breaker:MaxFailuresPerClient"] = "0",
            ["Gateway:Resilience:Clusters:c:MaxFailuresPerClient"] = "-1",
            ["Gateway:Resilience:Clusters:typo:BreakDuration"] = "00:00:10",
            ["ReverseProxy:Routes:r:ClusterId"] = "c",
            ["ReverseProxy:Routes:r:Match:Path"] = "/chat",
            ["ReverseProxy:Routes:r:Metadata:Gateway.FallbackCluster"] = "nowhere",
            ["ReverseProxy:Routes:self:ClusterId"] = "c",
            ["ReverseProxy:Routes:self:Match:Path"] = "/self",
            ["ReverseProxy:Routes:self:Metadata:Gateway.FallbackCluster"] = "c",
            ["ReverseProxy:Clusters:c:Destinations:d1:Address"] = "http://127.0.0.1:1",
        }));

        var problems = exception.Problems;
        Assert.Contains(problems, p => p.StartsWith("Gateway:Resilience:", StringComparison.Ordinal) && p.Contains("FailureRatio", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Gateway:Resilience:", StringComparison.Ordinal) && p.Contains("BreakDuration", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Gateway:Resilience:", StringComparison.Ordinal) && p.Contains("HandshakeTimeout", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Clusters:c:MinimumThroughput", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Gateway:Resilience:", StringComparison.Ordinal) && p.Contains("Breaker.MaxFailuresPerClient", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Clusters:c:MaxFailuresPerClient", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Gateway:Resilience:Clusters:typo:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ReverseProxy:Routes:r:", StringComparison.Ordinal) && p.Contains("'nowhere'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ReverseProxy:Routes:self:", StringComparison.Ordinal) && p.Contains("own cluster", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_HeartbeatAndFrameLimitProblems_AreReportedWithTheRest()
    {
        var exception = Assert.Throws<GatewayConfigurationException>(() => Build(new Dictionary<string, string?>
        {
            ["Gateway:Heartbeat:ProbeAfter"] = "00:00:00.500",
            ["Gateway:Heartbeat:TickInterval"] = "00:00:01",
            ["Gateway:Heartbeat:PongTimeout"] = "00:00:00",
            ["Gateway:Heartbeat:Pressure:IdleFactor"] = "2",
            ["Gateway:Sessions:MaxFrameSize"] = "100000",
            ["Gateway:Sessions:MaxMessageSize"] = "1000",
            ["ReverseProxy:Routes:r:ClusterId"] = "c",
            ["ReverseProxy:Routes:r:Match:Path"] = "/chat",
            ["ReverseProxy:Routes:r:Metadata:Gateway.MaxFrameSize"] = "huge",
            ["ReverseProxy:Routes:r:Metadata:Gateway.ProbeAfter"] = "soon",
            ["ReverseProxy:Routes:r:Metadata:Gateway.IdleTimeout"] = "never",
            ["ReverseProxy:Routes:r:Metadata:Gateway.Heartbeat"] = "maybe",
            ["ReverseProxy:Clusters:c:Destinations:d1:Address"] = "http://127.0.0.1:1",
        }));

        var problems = exception.Problems;
        Assert.Contains(problems, p => p.StartsWith("Gateway:Heartbeat:", StringComparison.Ordinal) && p.Contains("PongTimeout", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Gateway:Heartbeat:", StringComparison.Ordinal) && p.Contains("IdleFactor", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("TickInterval (00:00:01) must be shorter than ProbeAfter (00:00:00.5000000)", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("MaxMessageSize (1000) must be at least MaxFrameSize (100000)", StringComparison.Ordinal));
        foreach (var key in new[] { "'Gateway.MaxFrameSize' = 'huge'", "'Gateway.ProbeAfter' = 'soon'", "'Gateway.IdleTimeout' = 'never'", "'Gateway.Heartbeat' = 'maybe'" })
        {
            Assert.Contains(problems, p => p.StartsWith("ReverseProxy:Routes:r:", StringComparison.Ordinal) && p.Contains(key, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Build_DrainProblems_AreReportedWithTheRest()
    {
        var exception = Assert.Throws<GatewayConfigurationException>(() => Build(new Dictionary<string, string?>
        {
            ["Gateway:Drain:Delay"] = "-00:00:01",
            ["Gateway:Drain:Window"] = "02:00:00",
            ["Gateway:Drain:BatchInterval"] = "00:00:00",
            ["Gateway:Server:Public:Tls:CertificateFile"] = "/nonexistent/tls.crt",
            ["Gateway:Server:Public:Tls:KeyFile"] = "/nonexistent/tls.key",
            ["Gateway:Server:Public:Tls:ReloadInterval"] = "00:00:00.010",
        }));

        var problems = exception.Problems;
        foreach (var field in new[] { "Delay", "Window", "BatchInterval" })
        {
            Assert.Contains(problems, p => p.StartsWith("Gateway:Drain:", StringComparison.Ordinal) && p.Contains(field, StringComparison.Ordinal));
        }

        Assert.Contains(problems, p => p.Contains("ReloadInterval", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_ShutdownTimeout_IsTheDrainBudget()
    {
        var app = Build(new Dictionary<string, string?>
        {
            ["Gateway:Drain:Delay"] = "00:00:07",
            ["Gateway:Drain:Window"] = "00:01:00",
            ["Gateway:Heartbeat:CloseTimeout"] = "00:00:03",
        });
        using var _ = (IDisposable)app;

        var host = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.Extensions.Hosting.HostOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(7 + 60 + 3 + 10), host.ShutdownTimeout);
    }

    [Fact]
    public void Build_ValidConfiguration_Succeeds()
    {
        using var app = (IDisposable)Build(new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:r:ClusterId"] = "c",
            ["ReverseProxy:Routes:r:Match:Path"] = "/chat",
            ["ReverseProxy:Clusters:c:Destinations:d1:Address"] = "http://127.0.0.1:1",
            ["ReverseProxy:Clusters:c:HttpRequest:Version"] = "2",
            ["ReverseProxy:Clusters:c:HttpRequest:VersionPolicy"] = "RequestVersionExact",
        });
    }

    private static WebApplication Build(Dictionary<string, string?> settings)
    {
        var builder = GatewayHost.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddInMemoryCollection(settings);
        return GatewayHost.Build(builder);
    }
}
