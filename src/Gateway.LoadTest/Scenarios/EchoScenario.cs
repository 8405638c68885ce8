using System.Diagnostics;
using System.Net.WebSockets;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Net;

namespace Gateway.LoadTest.Scenarios;

/// <summary>
/// <c>echo</c>: an open-loop load, like wrk2. Message k is due at start + k / rate, whatever happened to the
/// messages before it; one scheduler loop sends it on the next session (round-robin) whose previous send has
/// completed, writing the due time (Stopwatch ticks) into bytes 0-7 and the actual send time into bytes 8-15
/// (<see cref="MessageTimestamp"/>).
/// The round trip is measured from the due time, so a stalled server or a backlog of sends shows in the
/// percentiles instead of silently lowering the send rate (coordinated omission). The service time, from the
/// actual send, is reported beside it.
/// </summary>
internal static class EchoScenario
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(3);

    public static async Task<TimeSpan?> RunAsync(LoadTestOptions options, WebSocketConnector connector, RunMetrics metrics, CancellationToken cancellationToken)
    {
        var random = new Random(options.Seed + (options.WorkerIndex ?? 0));
        var sessions = await SessionOpener.OpenAsync(
            options,
            connector,
            metrics,
            _ =>
            {
                var buffer = new byte[options.Size];
                // Text payloads stay valid UTF-8 (see MessageTimestamp).
                if (options.Binary)
                {
                    random.NextBytes(buffer);
                }
                else
                {
                    buffer.AsSpan().Fill((byte)'x');
                }

                return buffer;
            },
            options.Size,
            timestamps: true,
            cancellationToken);
        if (sessions.Count == 0)
        {
            return TimeSpan.Zero;
        }

        var type = options.Binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text;
        var total = (long)Math.Round(options.Rate * options.Duration!.Value.TotalSeconds);
        var ticksPerMessage = Stopwatch.Frequency / options.Rate;
        var start = Stopwatch.GetTimestamp();
        var cursor = 0;
        for (long k = 0; k < total && !cancellationToken.IsCancellationRequested; k++)
        {
            var due = start + (long)(k * ticksPerMessage);
            await Pacing.WaitUntilAsync(due, cancellationToken);
            var index = await NextReadyAsync(sessions, cursor, cancellationToken);
            if (index < 0)
            {
                metrics.Error("send_no_open_session");
                break;
            }

            var session = sessions[index];
            cursor = (index + 1) % sessions.Count;
            var buffer = session.SendBuffer!;
            MessageTimestamp.Write(buffer, due, !options.Binary);
            if (buffer.Length >= 2 * MessageTimestamp.Size)
            {
                MessageTimestamp.Write(buffer.AsSpan(MessageTimestamp.Size), Stopwatch.GetTimestamp(), !options.Binary);
            }

            session.Send(buffer, type);
            metrics.MessageSent();
        }

        var messagingTime = Stopwatch.GetElapsedTime(start);

        // The last echoes are on their way: wait for them, a bounded time.
        var drainEnd = Stopwatch.GetTimestamp() + Clock.Ticks(DrainTimeout);
        while (metrics.Received < metrics.Sent && Stopwatch.GetTimestamp() < drainEnd && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(10, CancellationToken.None);
        }

        metrics.SetOpenAtEnd(sessions.Count(s => s.IsOpen));
        await SessionOpener.CloseAllAsync(sessions);
        return messagingTime;
    }

    /// <summary>The first session from <paramref name="cursor"/> that can send now; if all are busy, waits for the
    /// one at the cursor (the message keeps its due time, so the wait is measured).</summary>
    private static async ValueTask<int> NextReadyAsync(List<LoadSession> sessions, int cursor, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            LoadSession? busy = null;
            for (var i = 0; i < sessions.Count; i++)
            {
                var index = (cursor + i) % sessions.Count;
                var session = sessions[index];
                if (session.ReadyToSend)
                {
                    return index;
                }

                if (busy is null && session.IsOpen)
                {
                    busy = session;
                }
            }

            if (busy is null)
            {
                return -1;
            }

            try
            {
                await busy.PendingSend.WaitAsync(cancellationToken);
            }
            catch (Exception exception) when (exception is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
            {
                // ReadyToSend counts the failure on the next pass.
            }
        }

        return -1;
    }
}
