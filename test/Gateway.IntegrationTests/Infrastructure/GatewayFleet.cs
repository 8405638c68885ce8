using System.Globalization;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// Several built gateways (<see cref="GatewayProcess"/>), each on ports fixed for its whole life, so a balancer's
/// configuration can name them across restarts, as a Service names its pods' ports. Stopped processes stay
/// readable (output, exit code); every process is killed by its PID on dispose.
/// </summary>
public sealed class GatewayFleet : IAsyncDisposable
{
    private readonly IReadOnlyDictionary<string, string> _settings;
    private readonly ExternalProcess?[] _running;
    private readonly List<ExternalProcess> _all = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    private GatewayFleet(IReadOnlyDictionary<string, string> settings, int size)
    {
        _settings = settings;
        _running = new ExternalProcess?[size];
        Members = [.. Enumerable.Range(1, size).Select(i => ($"g{i}", LoopbackPorts.Free(), LoopbackPorts.Free()))];
    }

    /// <summary>Each gateway's name and ports, as a balancer's server list.</summary>
    public IReadOnlyList<(string Name, int Port, int CheckPort)> Members { get; }

    /// <summary>Starts <paramref name="size"/> gateways (Production) with the same <paramref name="settings"/>; returns once all listen.</summary>
    public static async Task<GatewayFleet> StartAsync(int size, IReadOnlyDictionary<string, string> settings)
    {
        var fleet = new GatewayFleet(settings, size);
        try
        {
            await Task.WhenAll(Enumerable.Range(0, size).Select(fleet.StartAsync));
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts gateway <paramref name="index"/> (again) on its ports; returns once it listens.</summary>
    public async Task StartAsync(int index)
    {
        var (_, port, management) = Members[index];
        var settings = new Dictionary<string, string>(_settings)
        {
            ["Gateway__Server__Public__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Gateway__Server__Management__Port"] = management.ToString(CultureInfo.InvariantCulture),
        };
        var process = GatewayProcess.Start("Production", settings);
        _all.Add(process);
        _running[index] = process;
        var listening = await GatewayProcess.PortsAsync(process);
        if (listening != (port, management))
        {
            throw new InvalidOperationException($"Gateway {Members[index].Name} listens on {listening}, not on ({port}, {management}).");
        }
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod, then waits for the process to exit; returns the stopped process.</summary>
    public async Task<ExternalProcess> StopAsync(int index, TimeSpan timeout)
    {
        var process = _running[index] ?? throw new InvalidOperationException($"Gateway {Members[index].Name} is not running.");
        process.Terminate();
        await process.WaitForExitAsync(timeout);
        _running[index] = null;
        return process;
    }

    /// <summary>Sessions open at the running gateways (<c>gateway_sessions_active</c>); one that does not answer counts none.</summary>
    public async Task<int> ActiveSessionsAsync()
    {
        var total = 0.0;
        for (var i = 0; i < Members.Count; i++)
        {
            if (_running[i] is null)
            {
                continue;
            }

            try
            {
                var text = await _http.GetStringAsync(new Uri($"http://127.0.0.1:{Members[i].CheckPort}/metrics"));
                total += MetricsSnapshot.Parse(text).Sum("gateway_sessions_active");
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
            {
                // Starting, or stopping: it holds no session a client could use.
            }
        }

        return (int)total;
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        foreach (var process in _all)
        {
            await process.DisposeAsync();
        }
    }
}
