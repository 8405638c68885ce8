using System.Globalization;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// HAProxy (the Debian package) as the cloud load balancer in front of gateway processes, from the fleet
/// benchmark's own configuration (<c>test/Benchmarks/fleet/haproxy.cfg</c>: TCP, leastconn, <c>/readyz</c> checks),
/// in the foreground; killed by its PID and its folder deleted on dispose.
/// </summary>
public sealed class HaproxyProcess : IAsyncDisposable
{
    private readonly ExternalProcess _process;
    private readonly string _directory;
    private readonly HttpClient _stats;

    private HaproxyProcess(ExternalProcess process, string directory, int port, int statsPort)
    {
        _process = process;
        _directory = directory;
        Port = port;
        _stats = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{statsPort}/"), Timeout = TimeSpan.FromSeconds(5) };
    }

    /// <summary>Where clients connect.</summary>
    public int Port { get; }

    public string Output => _process.StandardOutput + "\n" + _process.StandardError;

    /// <summary>Starts HAProxy balancing over <paramref name="servers"/> (each checked on its management port every
    /// <paramref name="checkInterval"/>); returns once it answers, before it has judged any server.</summary>
    public static async Task<HaproxyProcess> StartAsync(IEnumerable<(string Name, int Port, int CheckPort)> servers, TimeSpan checkInterval, int maxConnections = 4096)
    {
        var template = Path.Combine(Paths.RepositoryRoot, "test", "Benchmarks", "fleet", "haproxy.cfg");
        var lines = servers.Select(server => string.Create(CultureInfo.InvariantCulture, $"    server {server.Name} 127.0.0.1:{server.Port} check port {server.CheckPort}"));
        var directory = Directory.CreateTempSubdirectory("gateway-haproxy-").FullName;
        var config = Path.Combine(directory, "haproxy.cfg");
        var port = LoopbackPorts.Free();
        var statsPort = LoopbackPorts.Free();
        await File.WriteAllTextAsync(config, (await File.ReadAllTextAsync(template))
            .Replace("@PORT@", port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("@STATS_PORT@", statsPort.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("@MAXCONN@", maxConnections.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("@INTER@", string.Create(CultureInfo.InvariantCulture, $"{(int)checkInterval.TotalMilliseconds}ms"), StringComparison.Ordinal)
            .Replace("@SERVERS@", string.Join('\n', lines), StringComparison.Ordinal));

        var haproxy = new HaproxyProcess(ExternalProcess.Start(ExternalTool.Find("haproxy") ?? "haproxy", ["-db", "-f", config], workingDirectory: directory), directory, port, statsPort);
        try
        {
            await Eventually.EqualAsync(true, async () => haproxy._process.HasExited || (await haproxy.ServerStatesAsync()).Count > 0, TimeSpan.FromSeconds(30));
            if (haproxy._process.HasExited)
            {
                throw new InvalidOperationException($"HAProxy exited with {haproxy._process.ExitCode}:\n{haproxy.Output}");
            }

            return haproxy;
        }
        catch
        {
            await haproxy.DisposeAsync();
            throw;
        }
    }

    public Uri Ws(string pathAndQuery) => new($"ws://127.0.0.1:{Port}{pathAndQuery}");

    /// <summary>Each server's state as HAProxy judges it (<c>UP</c>, <c>DOWN</c>, <c>UP 1/2</c> while going down...);
    /// empty while HAProxy does not answer.</summary>
    public async Task<IReadOnlyDictionary<string, string>> ServerStatesAsync()
    {
        try
        {
            // The CSV's columns: pxname, svname, ... status is the 18th.
            return (await _stats.GetStringAsync(new Uri("stats;csv", UriKind.Relative)))
                .Split('\n')
                .Select(row => row.Split(','))
                .Where(fields => fields.Length > 17 && fields[0] == "gateways" && fields[1] is not ("FRONTEND" or "BACKEND"))
                .ToDictionary(fields => fields[1], fields => fields[17]);
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return new Dictionary<string, string>();
        }
    }

    /// <summary>Waits until HAProxy sends new connections to <paramref name="server"/> (its checks passed <c>rise</c> times).</summary>
    public Task WaitUntilUpAsync(string server, TimeSpan timeout)
        => Eventually.EqualAsync("UP", async () => (await ServerStatesAsync()).GetValueOrDefault(server, "unknown"), timeout);

    public async ValueTask DisposeAsync()
    {
        _stats.Dispose();
        await _process.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
