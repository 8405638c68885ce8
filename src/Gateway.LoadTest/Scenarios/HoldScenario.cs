using System.Diagnostics;
using System.Net.WebSockets;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Net;
using Gateway.LoadTest.Reconnect;

namespace Gateway.LoadTest.Scenarios;

/// <summary><c>hold</c>: open the sessions at the ramp, hold them (optionally with a small keepalive text
/// message each from one loop), count the ones still open, close them all with 1000.</summary>
internal static class HoldScenario
{
    private static readonly byte[] Keepalive = "ka"u8.ToArray();

    public static async Task<TimeSpan?> RunAsync(LoadTestOptions options, WebSocketConnector connector, RunMetrics metrics, CancellationToken cancellationToken)
    {
        if (options.Reconnect)
        {
            return await ReconnectingAsync(options, connector, metrics, cancellationToken);
        }

        var sessions = await SessionOpener.OpenAsync(options, connector, metrics, _ => null, 256, timestamps: false, cancellationToken);
        await HoldAsync(options, () => sessions, cancellationToken);
        metrics.SetOpenAtEnd(sessions.Count(s => s.IsOpen));
        await SessionOpener.CloseAllAsync(sessions);
        return null;
    }

    /// <summary>
    /// <c>--reconnect</c>: every attempt of the ramp becomes a <see cref="ReconnectingClient"/> that keeps a session
    /// open until the hold ends, whatever ends it or refuses it meanwhile.
    /// </summary>
    private static async Task<TimeSpan?> ReconnectingAsync(LoadTestOptions options, WebSocketConnector connector, RunMetrics metrics, CancellationToken cancellationToken)
    {
        var (first, failures) = await SessionOpener.OpenEachAsync(options, connector, metrics, _ => null, 256, timestamps: false, cancellationToken);
        using var clients = new ReconnectingClients(options, connector, metrics, first, failures, (_, socket) => new LoadSession(socket, metrics, 256, null, timestamps: false, text: true), cancellationToken);
        await HoldAsync(options, () => clients.Sessions, cancellationToken);
        var open = await clients.StopAsync();
        metrics.SetOpenAtEnd(open.Count(s => s.IsOpen));
        await SessionOpener.CloseAllAsync(open);
        return null;
    }

    /// <summary>The hold itself: until it ends, the keepalive message on every open session at its interval.</summary>
    private static async Task HoldAsync(LoadTestOptions options, Func<IEnumerable<LoadSession>> sessions, CancellationToken cancellationToken)
    {
        var holdEnd = Stopwatch.GetTimestamp() + Clock.Ticks(options.Hold);
        var keepalive = options.Keepalive > TimeSpan.Zero ? Clock.Ticks(options.Keepalive) : long.MaxValue;
        var nextKeepalive = keepalive == long.MaxValue ? long.MaxValue : Stopwatch.GetTimestamp() + keepalive;
        while (!cancellationToken.IsCancellationRequested && Stopwatch.GetTimestamp() < holdEnd)
        {
            var due = Math.Min(holdEnd, nextKeepalive);
            await Pacing.WaitUntilAsync(due, cancellationToken);
            if (Stopwatch.GetTimestamp() >= nextKeepalive && Stopwatch.GetTimestamp() < holdEnd)
            {
                foreach (var session in sessions())
                {
                    if (session.ReadyToSend)
                    {
                        session.Send(Keepalive, WebSocketMessageType.Text);
                    }
                }

                nextKeepalive += keepalive;
            }
        }
    }
}
