using System.Diagnostics;
using System.Net.WebSockets;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Net;

namespace Gateway.LoadTest.Scenarios;

/// <summary><c>hold</c>: open the sessions at the ramp, hold them (optionally with a small keepalive text
/// message each from one loop), count the ones still open, close them all with 1000.</summary>
internal static class HoldScenario
{
    private static readonly byte[] Keepalive = "ka"u8.ToArray();

    public static async Task<TimeSpan?> RunAsync(LoadTestOptions options, WebSocketConnector connector, RunMetrics metrics, CancellationToken cancellationToken)
    {
        var sessions = await SessionOpener.OpenAsync(options, connector, metrics, _ => null, 256, timestamps: false, cancellationToken);
        var holdEnd = Stopwatch.GetTimestamp() + Clock.Ticks(options.Hold);
        var keepalive = options.Keepalive > TimeSpan.Zero ? Clock.Ticks(options.Keepalive) : long.MaxValue;
        var nextKeepalive = keepalive == long.MaxValue ? long.MaxValue : Stopwatch.GetTimestamp() + keepalive;
        while (!cancellationToken.IsCancellationRequested && Stopwatch.GetTimestamp() < holdEnd)
        {
            var due = Math.Min(holdEnd, nextKeepalive);
            await Pacing.WaitUntilAsync(due, cancellationToken);
            if (Stopwatch.GetTimestamp() >= nextKeepalive && Stopwatch.GetTimestamp() < holdEnd)
            {
                foreach (var session in sessions)
                {
                    if (session.ReadyToSend)
                    {
                        session.Send(Keepalive, WebSocketMessageType.Text);
                    }
                }

                nextKeepalive += keepalive;
            }
        }

        metrics.SetOpenAtEnd(sessions.Count(s => s.IsOpen));
        await SessionOpener.CloseAllAsync(sessions);
        return null;
    }
}
