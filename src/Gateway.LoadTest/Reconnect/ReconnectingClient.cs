using System.Diagnostics;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Net;
using Gateway.LoadTest.Scenarios;

namespace Gateway.LoadTest.Reconnect;

/// <summary>
/// One client of <c>hold --reconnect</c>: its current session, and when that ends (the server closed it or the
/// connection dropped) or an upgrade fails, a new one after <see cref="ReconnectPolicy"/>'s delay, until the run
/// stops. Each reopened session is counted by what ended the one before, with the time from that end to the
/// new session's opening.
/// </summary>
internal sealed class ReconnectingClient
{
    private readonly WebSocketConnector _connector;
    private readonly RunMetrics _metrics;
    private readonly ReconnectPolicy _policy;
    private readonly Func<System.Net.WebSockets.ClientWebSocket, LoadSession> _wrap;
    private LoadSession? _current;

    public ReconnectingClient(WebSocketConnector connector, RunMetrics metrics, ReconnectPolicy policy, Func<System.Net.WebSockets.ClientWebSocket, LoadSession> wrap)
    {
        _connector = connector;
        _metrics = metrics;
        _policy = policy;
        _wrap = wrap;
    }

    /// <summary>The open session, or null while the client waits to reconnect.</summary>
    public LoadSession? Current => Volatile.Read(ref _current);

    /// <summary>
    /// Keeps a session open until <paramref name="stopping"/>: starting from <paramref name="first"/>, or, when the
    /// first upgrade failed (<paramref name="first"/> null), from that failure's <paramref name="firstFailure"/>.
    /// <see cref="Current"/> is <paramref name="first"/> when this returns.
    /// </summary>
    public async Task RunAsync(LoadSession? first, ConnectOutcome firstFailure, CancellationToken stopping)
    {
        Volatile.Write(ref _current, first);
        var cause = firstFailure.FailureCause ?? "dropped";
        TimeSpan? hint = firstFailure.RetryAfterSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
        var failures = first is null ? 1 : 0;
        while (!stopping.IsCancellationRequested)
        {
            if (Current is { } session)
            {
                await session.ReceiveLoop.WaitAsync(stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (stopping.IsCancellationRequested)
                {
                    return;
                }

                cause = session.EndCause;
                hint = ReconnectPolicy.HintOf(session.ServerCloseStatus, session.ServerCloseReason);
                failures = 0;
                Volatile.Write(ref _current, null);
                await session.CloseAsync();
            }

            var ended = Stopwatch.GetTimestamp();
            while (!stopping.IsCancellationRequested)
            {
                await Task.Delay(_policy.Delay(failures, hint), stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (stopping.IsCancellationRequested)
                {
                    return;
                }

                var outcome = await _connector.ConnectAsync(stopping);
                if (outcome.Socket is { } socket)
                {
                    _metrics.SessionOpened(outcome.Microseconds);
                    _metrics.Reconnected(cause, Clock.Microseconds(Stopwatch.GetTimestamp() - ended));
                    Volatile.Write(ref _current, _wrap(socket));
                    break;
                }

                _metrics.SessionFailed(outcome.FailureCause!);
                failures++;
                hint = outcome.RetryAfterSeconds is { } retryAfter ? TimeSpan.FromSeconds(retryAfter) : null;
            }
        }
    }
}
