using System.Net.WebSockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Hosting;

/// <summary>The built gateway as a separate process, as an operator starts it.</summary>
public sealed class ProcessTests
{
    /// <summary>Acceptance 7: a bad configuration stops the process with every problem listed, not just the first.</summary>
    [Fact]
    public async Task InvalidConfiguration_ExitsNonZero_ListingEveryProblem()
    {
        await using var gateway = StartGateway("Production", new Dictionary<string, string>
        {
            // A route to a cluster that does not exist.
            ["ReverseProxy__Routes__chat__ClusterId"] = "missing",
            ["ReverseProxy__Routes__chat__Match__Path"] = "/chat",
            // Negative timeouts, one in the gateway's settings and one in a YARP cluster.
            ["Gateway__Proxy__RequestTimeout"] = "-00:00:05",
            ["ReverseProxy__Clusters__backend__Destinations__d1__Address"] = "http://127.0.0.1:9",
            ["ReverseProxy__Clusters__backend__HttpRequest__ActivityTimeout"] = "-00:00:01",
            // A port out of range.
            ["Gateway__Server__Management__Port"] = "70000",
        });

        var exitCode = await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(78, exitCode);
        var error = gateway.StandardError;
        Assert.Contains("The gateway configuration is invalid (4 problems)", error, StringComparison.Ordinal);
        Assert.Contains("ReverseProxy:Routes:chat: references cluster 'missing'", error, StringComparison.Ordinal);
        Assert.Contains("Gateway:Proxy: ", error, StringComparison.Ordinal);
        Assert.Contains("RequestTimeout", error, StringComparison.Ordinal);
        Assert.Contains("ReverseProxy:Clusters:backend: HttpRequest.ActivityTimeout must be positive", error, StringComparison.Ordinal);
        Assert.Contains("Management.Port", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    /// <summary>Acceptance 8: in Development the gateway hosts its own echo backend behind <c>/echo</c>.</summary>
    [Fact]
    public async Task Development_DemoEchoRoute_EchoesThroughTheGateway()
    {
        await using var gateway = StartGateway("Development", []);
        var port = await PublicPortAsync(gateway);

        using var socket = await WebSocketClient.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/echo"));
        var echoed = await socket.EchoAsync(Encoding.UTF8.GetBytes("hello, gateway"), WebSocketMessageType.Text);
        Assert.Equal("hello, gateway", Encoding.UTF8.GetString(echoed));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Fact]
    public async Task Production_HasNoDemo()
    {
        await using var gateway = StartGateway("Production", []);
        var port = await PublicPortAsync(gateway);

        var (status, _) = await WebSocketClient.FailedUpgradeAsync(new Uri($"ws://127.0.0.1:{port}/echo"));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, status);
        Assert.DoesNotContain("demo", gateway.StandardOutput, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Routes and settings from the file named by GATEWAY_CONFIG (a mounted ConfigMap), environment variables above it.</summary>
    [Fact]
    public async Task ConfigFile_FromGatewayConfig_IsLoaded_AndEnvironmentOverridesIt()
    {
        await using var backend = await EchoBackend.StartAsync();
        var directory = Directory.CreateTempSubdirectory("gateway-config-").FullName;
        try
        {
            var file = Path.Combine(directory, "gateway.json");
            await File.WriteAllTextAsync(file, $$"""
                {
                  "Gateway": { "Drain": { "Window": "00:00:20" }, "Server": { "Public": { "Port": 1 } } },
                  "ReverseProxy": {
                    "Routes": { "chat": { "ClusterId": "chat", "Match": { "Path": "/chat" } } },
                    "Clusters": { "chat": { "Destinations": { "d1": { "Address": "{{backend.Address}}" } } } }
                  }
                }
                """);
            await using var gateway = StartGateway("Production", new Dictionary<string, string> { ["GATEWAY_CONFIG"] = file });
            // The file's port 1 lost to the environment's 0.
            var port = await PublicPortAsync(gateway);

            using var socket = await WebSocketClient.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat"));
            var echoed = await socket.EchoAsync(Encoding.UTF8.GetBytes("from a config file"), WebSocketMessageType.Text);
            Assert.Equal("from a config file", Encoding.UTF8.GetString(echoed));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task ConfigFile_MissingOrBroken_IsAConfigurationError()
    {
        await using (var missing = StartGateway("Production", new Dictionary<string, string> { ["GATEWAY_CONFIG"] = "/nonexistent/gateway.json" }))
        {
            Assert.Equal(78, await missing.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains("GATEWAY_CONFIG: configuration file '/nonexistent/gateway.json' does not exist.", missing.StandardError, StringComparison.Ordinal);
        }

        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, """{ "Gateway": { "Drain": { "Window": "00:00:20", } """);
            await using var broken = StartGateway("Production", new Dictionary<string, string> { ["GATEWAY_CONFIG"] = file });
            Assert.Equal(78, await broken.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains($"GATEWAY_CONFIG: configuration file '{file}' is not valid JSON", broken.StandardError, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", broken.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The image runs with a read-only root filesystem: a start writes nothing to disk and warns of nothing.</summary>
    [Fact]
    public async Task Start_WritesNothingUnderHome_AndLogsNoWarning()
    {
        var home = Directory.CreateTempSubdirectory("gateway-home-").FullName;
        try
        {
            await using var gateway = StartGateway("Production", new Dictionary<string, string> { ["HOME"] = home, ["Gateway__Drain__Delay"] = "00:00:00" });
            await PublicPortAsync(gateway);
            gateway.Terminate();
            Assert.Equal(0, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30)));

            Assert.Empty(Directory.EnumerateFileSystemEntries(home, "*", SearchOption.AllDirectories));
            Assert.DoesNotContain("warn:", gateway.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("Drain completed", gateway.StandardOutput, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    private static ExternalProcess StartGateway(string environment, Dictionary<string, string> settings)
        => GatewayProcess.Start(environment, settings);

    private static async Task<int> PublicPortAsync(ExternalProcess gateway) => (await GatewayProcess.PortsAsync(gateway)).Public;
}
