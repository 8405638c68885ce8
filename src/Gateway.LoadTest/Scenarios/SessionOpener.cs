using System.Diagnostics;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Net;

namespace Gateway.LoadTest.Scenarios;

/// <summary>Opens a command's sessions: attempt i starts at i / ramp seconds (ramp 0: at once), never more than
/// --concurrency upgrades in flight. Returns the sessions that opened.</summary>
internal static class SessionOpener
{
    public static async Task<List<LoadSession>> OpenAsync(
        LoadTestOptions options,
        WebSocketConnector connector,
        RunMetrics metrics,
        Func<int, byte[]?> sendBufferFor,
        int receiveBufferSize,
        bool timestamps,
        CancellationToken cancellationToken)
    {
        var (sessions, _) = await OpenEachAsync(options, connector, metrics, sendBufferFor, receiveBufferSize, timestamps, cancellationToken);
        return [.. sessions.OfType<LoadSession>()];
    }

    /// <summary>As <see cref="OpenAsync"/>, by attempt: the session, or the failed attempt's outcome.</summary>
    /// <param name="sequenceFor">echo --reconnect: each attempt's message numbers.</param>
    public static async Task<(LoadSession?[] Sessions, ConnectOutcome[] Failures)> OpenEachAsync(
        LoadTestOptions options,
        WebSocketConnector connector,
        RunMetrics metrics,
        Func<int, byte[]?> sendBufferFor,
        int receiveBufferSize,
        bool timestamps,
        CancellationToken cancellationToken,
        Func<int, Reconnect.MessageSequence?>? sequenceFor = null)
    {
        var sessions = new LoadSession?[options.Sessions];
        var failures = new ConnectOutcome[options.Sessions];
        using var inFlight = new SemaphoreSlim(options.Concurrency);
        var attempts = new List<Task>(options.Sessions);
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < options.Sessions && !cancellationToken.IsCancellationRequested; i++)
        {
            if (options.Ramp > 0)
            {
                await Pacing.WaitUntilAsync(start + (long)(i * Stopwatch.Frequency / options.Ramp), cancellationToken);
            }

            try
            {
                await inFlight.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var index = i;
            attempts.Add(Task.Run(async () =>
            {
                try
                {
                    var outcome = await connector.ConnectAsync(cancellationToken);
                    if (outcome.Socket is { } socket)
                    {
                        metrics.SessionOpened(outcome.Microseconds);
                        metrics.RecordIntervalLatency(outcome.Microseconds);
                        sessions[index] = new LoadSession(socket, metrics, receiveBufferSize, sendBufferFor(index), timestamps, !options.Binary, sequenceFor?.Invoke(index));
                    }
                    else
                    {
                        failures[index] = outcome;
                        metrics.SessionFailed(outcome.FailureCause!);
                    }
                }
                finally
                {
                    inFlight.Release();
                }
            }, CancellationToken.None));
        }

        await Task.WhenAll(attempts);
        return (sessions, failures);
    }

    public static async Task CloseAllAsync(IEnumerable<LoadSession> sessions) =>
        await Task.WhenAll(sessions.Select(s => s.CloseAsync()));
}

internal static class Pacing
{
    private static readonly long OneMillisecond = Stopwatch.Frequency / 1000;

    /// <summary>Waits until a Stopwatch timestamp: sleeps while more than ~2 ms remain (timer resolution is about
    /// a millisecond), then yields until it is due, so a scheduled send is late by microseconds, not milliseconds.</summary>
    public static async ValueTask WaitUntilAsync(long due, CancellationToken cancellationToken)
    {
        while (true)
        {
            var remaining = due - Stopwatch.GetTimestamp();
            if (remaining <= 0 || cancellationToken.IsCancellationRequested)
            {
                return;
            }

            if (remaining > 2 * OneMillisecond)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)(remaining - OneMillisecond) / Stopwatch.Frequency), cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            else
            {
                Thread.Yield();
            }
        }
    }
}
