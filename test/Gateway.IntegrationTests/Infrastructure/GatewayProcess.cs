using System.Text.RegularExpressions;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>The built gateway started as its own process, as an operator (or a pod) starts it, on loopback ports.</summary>
public static partial class GatewayProcess
{
    /// <param name="settings">Environment variables (<c>Gateway__...</c>); they win over the loopback defaults.</param>
    /// <param name="openFileLimit">A lower open-file limit for the process (<c>ulimit -n</c>), or null for the inherited one.</param>
    public static ExternalProcess Start(string environment, IReadOnlyDictionary<string, string> settings, int? openFileLimit = null)
    {
        var variables = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = environment,
            ["DOTNET_ENVIRONMENT"] = environment,
            ["Gateway__Server__Public__Address"] = "127.0.0.1",
            ["Gateway__Server__Public__Port"] = "0",
            ["Gateway__Server__Management__Address"] = "127.0.0.1",
            ["Gateway__Server__Management__Port"] = "0",
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        };
        // The gateway exports over OTLP when OTEL_* variables say so: none of the runner's reach it, only a test's own.
        foreach (var key in Environment.GetEnvironmentVariables().Keys.OfType<string>().Where(key => key.StartsWith("OTEL_", StringComparison.Ordinal)))
        {
            variables[key] = "";
        }

        foreach (var (key, value) in settings)
        {
            variables[key] = value;
        }

        return openFileLimit is { } limit
            ? ExternalProcess.Start("bash", ["-c", $"ulimit -n {limit} && exec dotnet \"$0\"", Paths.GatewayDll], variables, workingDirectory: Path.GetDirectoryName(Paths.GatewayDll))
            : ExternalProcess.Start("dotnet", [Paths.GatewayDll], variables, workingDirectory: Path.GetDirectoryName(Paths.GatewayDll));
    }

    /// <summary>The ports from the start-up log line, once the gateway listens.</summary>
    public static async Task<(int Public, int Management)> PortsAsync(ExternalProcess gateway)
    {
        var (publicPort, _, management) = await AllPortsAsync(gateway);
        return (publicPort, management);
    }

    /// <summary>The same with the h2c listener's port (0 when there is none).</summary>
    public static async Task<(int Public, int H2c, int Management)> AllPortsAsync(ExternalProcess gateway)
    {
        var match = await gateway.WaitForOutputAsync(ListeningRegex(), TimeSpan.FromSeconds(30));
        var h2c = match.Groups["h2c"].Success ? int.Parse(match.Groups["h2c"].Value) : 0;
        return (int.Parse(match.Groups["public"].Value), h2c, int.Parse(match.Groups["management"].Value));
    }

    [GeneratedRegex(@"Gateway listening: public http://127\.0\.0\.1:(?<public>\d+)(, public h2c http://127\.0\.0\.1:(?<h2c>\d+))?, management http://127\.0\.0\.1:(?<management>\d+)")]
    private static partial Regex ListeningRegex();
}
