using System.Diagnostics;
using System.Net.WebSockets;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Net;
using Gateway.LoadTest.Reconnect;

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
        var buffers = new byte[options.Sessions][];
        for (var i = 0; i < buffers.Length; i++)
        {
            buffers[i] = new byte[options.Size];
            // Text payloads stay valid UTF-8 (see MessageTimestamp).
            if (options.Binary)
            {
                random.NextBytes(buffers[i]);
            }
            else
            {
                buffers[i].AsSpan().Fill((byte)'x');
            }
        }

        if (options.Reconnect)
        {
            return await ReconnectingAsync(options, connector, metrics, buffers, cancellationToken);
        }

        var sessions = await SessionOpener.OpenAsync(options, connector, metrics, i => buffers[i], options.Size, timestamps: true, cancellationToken);
        if (sessions.Count == 0)
        {
            return TimeSpan.Zero;
        }

        var messagingTime = await SendAsync(options, metrics, sessions.Count, i => sessions[i], sequenceFor: null, cancellationToken);
        metrics.SetOpenAtEnd(sessions.Count(s => s.IsOpen));
        await SessionOpener.CloseAllAsync(sessions);
        return messagingTime;
    }

    /// <summary>
    /// <c>--reconnect</c>: each client keeps a session open (<see cref="ReconnectingClient"/>) and numbers its
    /// messages across its sessions (<see cref="MessageSequence"/>, bytes 16-23), so messages lost or duplicated
    /// across a reconnect are counted, apart from those a closing connection dropped.
    /// </summary>
    private static async Task<TimeSpan?> ReconnectingAsync(LoadTestOptions options, WebSocketConnector connector, RunMetrics metrics, byte[][] buffers, CancellationToken cancellationToken)
    {
        var sequences = buffers.Select(_ => new MessageSequence()).ToArray();
        var (first, failures) = await SessionOpener.OpenEachAsync(options, connector, metrics, i => buffers[i], options.Size, timestamps: true, cancellationToken, i => sequences[i]);
        using var clients = new ReconnectingClients(
            options,
            connector,
            metrics,
            first,
            failures,
            (i, socket) => new LoadSession(socket, metrics, options.Size, buffers[i], timestamps: true, text: !options.Binary, sequences[i]),
            cancellationToken);
        var messagingTime = await SendAsync(options, metrics, clients.Count, i => clients[i], i => sequences[i], cancellationToken);
        var open = await clients.StopAsync();
        metrics.SetOpenAtEnd(open.Count(s => s.IsOpen));
        await SessionOpener.CloseAllAsync(open);
        metrics.SetSequenceCounts(sequences.Sum(s => s.Lost), sequences.Sum(s => s.LostInClose), sequences.Sum(s => s.Duplicates));
        return messagingTime;
    }

    /// <summary>The open loop: message k due at start + k / rate, on the next session that can send; then the echoes' drain.</summary>
    private static async Task<TimeSpan> SendAsync(LoadTestOptions options, RunMetrics metrics, int count, Func<int, LoadSession?> sessionAt, Func<int, MessageSequence>? sequenceFor, CancellationToken cancellationToken)
    {
        var type = options.Binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text;
        var total = (long)Math.Round(options.Rate * options.Duration!.Value.TotalSeconds);
        var ticksPerMessage = Stopwatch.Frequency / options.Rate;
        var start = Stopwatch.GetTimestamp();
        var cursor = 0;
        for (long k = 0; k < total && !cancellationToken.IsCancellationRequested; k++)
        {
            var due = start + (long)(k * ticksPerMessage);
            await Pacing.WaitUntilAsync(due, cancellationToken);
            var index = await NextReadyAsync(count, sessionAt, cursor, cancellationToken);
            if (index < 0)
            {
                // With --reconnect every client may be between sessions: the message is not sent, and counted.
                metrics.Error("send_no_open_session");
                if (!options.Reconnect)
                {
                    break;
                }

                continue;
            }

            var session = sessionAt(index)!;
            cursor = (index + 1) % count;
            var buffer = session.SendBuffer!;
            MessageTimestamp.Write(buffer, due, !options.Binary);
            if (buffer.Length >= 2 * MessageTimestamp.Size)
            {
                MessageTimestamp.Write(buffer.AsSpan(MessageTimestamp.Size), Stopwatch.GetTimestamp(), !options.Binary);
            }

            if (sequenceFor is not null)
            {
                MessageTimestamp.Write(buffer.AsSpan(MessageSequence.Offset), sequenceFor(index).Next(), !options.Binary);
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

        return messagingTime;
    }

    /// <summary>The first session from <paramref name="cursor"/> that can send now; if all are busy, waits for the
    /// one at the cursor (the message keeps its due time, so the wait is measured).</summary>
    private static async ValueTask<int> NextReadyAsync(int count, Func<int, LoadSession?> sessionAt, int cursor, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            LoadSession? busy = null;
            for (var i = 0; i < count; i++)
            {
                var index = (cursor + i) % count;
                if (sessionAt(index) is not { } session)
                {
                    continue;
                }

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
