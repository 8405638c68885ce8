using System.Net.WebSockets;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Net;
using Gateway.LoadTest.Scenarios;

namespace Gateway.LoadTest.Reconnect;

/// <summary>
/// A command's <c>--reconnect</c> clients, one per attempt of the ramp, each keeping a session open
/// (<see cref="ReconnectingClient"/>) until <see cref="StopAsync"/>; one backoff policy for all, seeded per worker.
/// </summary>
internal sealed class ReconnectingClients : IDisposable
{
    private readonly ReconnectingClient[] _clients;
    private readonly Task[] _loops;
    private readonly CancellationTokenSource _stopping;

    /// <param name="first">The ramp's sessions, by attempt (null where the upgrade failed: <paramref name="failures"/> says why).</param>
    /// <param name="wrap">Client i's session over a newly opened socket.</param>
    public ReconnectingClients(
        LoadTestOptions options,
        WebSocketConnector connector,
        RunMetrics metrics,
        LoadSession?[] first,
        ConnectOutcome[] failures,
        Func<int, ClientWebSocket, LoadSession> wrap,
        CancellationToken cancellationToken)
    {
        var policy = new ReconnectPolicy(options.ReconnectBase, options.ReconnectCap, new Random(options.Seed + (options.WorkerIndex ?? 0)));
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _clients = new ReconnectingClient[first.Length];
        _loops = new Task[first.Length];
        for (var i = 0; i < first.Length; i++)
        {
            var index = i;
            var client = _clients[i] = new ReconnectingClient(connector, metrics, policy, socket => wrap(index, socket));
            // Called here, not queued: it takes its first session before it first waits, so the command's first
            // message already finds every client's session.
            _loops[i] = client.RunAsync(first[i], failures[i], _stopping.Token);
        }
    }

    public int Count => _clients.Length;

    /// <summary>Client <paramref name="index"/>'s open session, or null while it waits to reconnect.</summary>
    public LoadSession? this[int index] => _clients[index].Current;

    public IEnumerable<LoadSession> Sessions => _clients.Select(client => client.Current).OfType<LoadSession>();

    /// <summary>No more reconnects: waits for every client to stop and returns the sessions left open.</summary>
    public async Task<List<LoadSession>> StopAsync()
    {
        await _stopping.CancelAsync();
        await Task.WhenAll(_loops);
        return [.. Sessions];
    }

    public void Dispose() => _stopping.Dispose();
}
