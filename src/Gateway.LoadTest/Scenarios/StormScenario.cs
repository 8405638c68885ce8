using System.Net.WebSockets;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Net;

namespace Gateway.LoadTest.Scenarios;

/// <summary>
/// <c>storm</c>: upgrade attempts as fast as --concurrency loops can make them, up to --attempts. A refusal is
/// counted by HTTP status with its Retry-After; an accepted session is watched for --linger-ms (a server may accept
/// and close at once with 1013), then closed with 1000.
/// </summary>
internal static class StormScenario
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    public static async Task<TimeSpan?> RunAsync(LoadTestOptions options, WebSocketConnector connector, RunMetrics metrics, CancellationToken cancellationToken)
    {
        var next = -1;
        var loops = new Task[Math.Min(options.Concurrency, options.Attempts)];
        for (var i = 0; i < loops.Length; i++)
        {
            loops[i] = Task.Run(async () =>
            {
                // One receive buffer per loop, reused by every session the loop opens.
                var buffer = new byte[256];
                while (Interlocked.Increment(ref next) < options.Attempts && !cancellationToken.IsCancellationRequested)
                {
                    await AttemptAsync(options, connector, metrics, buffer, cancellationToken);
                }
            }, CancellationToken.None);
        }

        await Task.WhenAll(loops);
        return null;
    }

    private static async Task AttemptAsync(LoadTestOptions options, WebSocketConnector connector, RunMetrics metrics, byte[] buffer, CancellationToken cancellationToken)
    {
        var outcome = await connector.ConnectAsync(cancellationToken);
        if (outcome.Socket is not { } socket)
        {
            if (outcome.HttpStatus is not 0 and not 101)
            {
                metrics.Rejected(outcome.HttpStatus, outcome.RetryAfterSeconds);
            }

            metrics.SessionFailed(outcome.FailureCause!);
            return;
        }

        metrics.SessionOpened(outcome.Microseconds);
        metrics.RecordIntervalLatency(outcome.Microseconds);
        try
        {
            // Not cancellable: cancelling a pending receive aborts the socket. The close below ends it.
            var receive = socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask();
            var linger = Task.Delay(options.Linger, CancellationToken.None);
            if (await Task.WhenAny(receive, linger) == receive)
            {
                var result = await receive;
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    var code = (int?)socket.CloseStatus;
                    metrics.ServerClosed(code);
                    metrics.Error("close_" + (code?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"));
                    if (socket.State == WebSocketState.CloseReceived)
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).WaitAsync(CloseTimeout, CancellationToken.None);
                    }

                    return;
                }

                // The server spoke first (not an echo backend): still an accepted session.
            }

            metrics.StormAccepted();
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).WaitAsync(CloseTimeout, CancellationToken.None);
            await receive.WaitAsync(CloseTimeout, CancellationToken.None);
        }
        catch (Exception exception) when (exception is WebSocketException or IOException or TimeoutException or ObjectDisposedException or OperationCanceledException)
        {
            metrics.Error("close_" + exception.GetType().Name);
            socket.Abort();
        }
        finally
        {
            metrics.SessionEnded();
            socket.Dispose();
        }
    }
}
