using System.Net.WebSockets;
using System.Text;
using System.Text.RegularExpressions;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Hosting;

/// <summary>The built gateway as a separate process, as an operator starts it.</summary>
public sealed partial class ProcessTests
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

    private static ExternalProcess StartGateway(string environment, Dictionary<string, string> settings)
    {
        var environmentVariables = new Dictionary<string, string>(settings)
        {
            ["ASPNETCORE_ENVIRONMENT"] = environment,
            ["DOTNET_ENVIRONMENT"] = environment,
            ["Gateway__Server__Public__Address"] = "127.0.0.1",
            ["Gateway__Server__Public__Port"] = "0",
            ["Gateway__Server__Management__Address"] = "127.0.0.1",
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        };
        environmentVariables.TryAdd("Gateway__Server__Management__Port", "0");
        return ExternalProcess.Start("dotnet", [Paths.GatewayDll], environmentVariables, workingDirectory: Path.GetDirectoryName(Paths.GatewayDll));
    }

    private static async Task<int> PublicPortAsync(ExternalProcess gateway)
    {
        var match = await gateway.WaitForOutputAsync(ListeningRegex(), TimeSpan.FromSeconds(30));
        return int.Parse(match.Groups["port"].Value);
    }

    [GeneratedRegex(@"Gateway listening: public http://127\.0\.0\.1:(?<port>\d+)")]
    private static partial Regex ListeningRegex();
}
