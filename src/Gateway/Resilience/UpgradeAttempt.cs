using Gateway.Sessions;

namespace Gateway.Resilience;

/// <summary>
/// One upgrade sent to one destination, as its breaker sees it: an execution of the breaker's pipeline that
/// lasts until the outcome is known — the backend refused or failed the upgrade, did not answer within the
/// handshake timeout, dropped the session within the early-abort window, or kept it past the window.
/// </summary>
/// <remarks>
/// The two deadlines are checked by <see cref="UpgradeWatch"/>'s single ticker, never by a timer per attempt.
/// </remarks>
internal sealed class UpgradeAttempt : IDisposable
{
    private const int Handshaking = 0;
    private const int Resolved = 1;

    private readonly TaskCompletionSource<BackendFailure> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cancel;
    private ISessionUpgradeFeature? _upgrade;
    private Session? _session;
    private readonly long _handshakeDeadline;
    private readonly long _earlyAbortWindowTicks;
    private int _state;
    private bool _handshakeTimedOut;

    public UpgradeAttempt(DestinationBreaker breaker, ISessionUpgradeFeature? upgrade, TimeProvider timeProvider, CancellationToken requestAborted)
    {
        Breaker = breaker;
        _upgrade = upgrade;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        _handshakeDeadline = timeProvider.GetTimestamp() + ToTimestampTicks(breaker.Settings.HandshakeTimeout, timeProvider);
        _earlyAbortWindowTicks = ToTimestampTicks(breaker.Settings.EarlyAbortWindow, timeProvider);
    }

    public DestinationBreaker Breaker { get; }

    /// <summary>The request's abort token for the forwarder: the client's abort, or the handshake timeout.</summary>
    public CancellationToken Token => _cancel.Token;

    public Task<BackendFailure> Outcome => _outcome.Task;

    public bool HandshakeTimedOut
    {
        get => Volatile.Read(ref _handshakeTimedOut);
        private set => Volatile.Write(ref _handshakeTimedOut, value);
    }

    public bool IsResolved => Volatile.Read(ref _state) == Resolved;

    /// <summary>The session, once the backend accepted the upgrade.</summary>
    public Session? Session => Volatile.Read(ref _session) ?? Volatile.Read(ref _upgrade)?.Session;

    /// <summary>
    /// The session went on without its request (the lean path): the attempt keeps the session, not the request's
    /// feature (which holds the request), and the handshake's cancellation source is done with.
    /// </summary>
    public void LeaveRequest()
    {
        Volatile.Write(ref _session, _upgrade?.Session);
        Volatile.Write(ref _upgrade, null);
        _cancel.Dispose();
    }


    /// <summary>Records the outcome; only the first call counts.</summary>
    public bool Resolve(BackendFailure failure)
    {
        if (Interlocked.Exchange(ref _state, Resolved) == Resolved)
        {
            return false;
        }

        _outcome.TrySetResult(failure);
        return true;
    }

    /// <summary>Called by the ticker; true once the attempt is resolved and can leave the watch.</summary>
    public bool Tick(long now)
    {
        if (IsResolved)
        {
            return true;
        }

        if (Session is { } session)
        {
            if (session.EndReason is { } reason)
            {
                // Ended since the last tick, inside the window (a session on the lean path: on the YARP path the
                // breaker middleware judges it when the relay returns, before the session leaves the registry).
                Resolve(reason == SessionCloseReason.BackendLost ? BackendFailure.EarlyAbort : BackendFailure.None);
            }
            else if (now - session.StartTimestamp >= _earlyAbortWindowTicks)
            {
                // Upgraded: the early-abort window runs from the session's start.
                Resolve(BackendFailure.None);
            }
        }
        else if (now >= _handshakeDeadline && Interlocked.CompareExchange(ref _state, Resolved, Handshaking) == Handshaking)
        {
            // Marked before the outcome is published: whoever awaits the outcome must see why.
            HandshakeTimedOut = true;
            _outcome.TrySetResult(BackendFailure.HandshakeTimeout);
            // Callbacks (the forwarder's cancellation) run on the thread pool, not on the ticker.
            try
            {
                _ = _cancel.CancelAsync();
            }
            catch (ObjectDisposedException)
            {
                // The request is over: nothing left to cancel.
            }
        }

        return IsResolved;
    }

    public void Dispose() => _cancel.Dispose();

    private static long ToTimestampTicks(TimeSpan span, TimeProvider timeProvider)
        => (long)(span.TotalSeconds * timeProvider.TimestampFrequency);
}
