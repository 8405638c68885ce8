using System.Net;
using System.Threading.Tasks.Sources;
using Gateway.Sessions;
using Polly;
using Polly.CircuitBreaker;

namespace Gateway.Resilience;

/// <summary>
/// One upgrade sent to one destination, as its breaker sees it: an execution of the breaker's pipeline that
/// lasts until the outcome is known — the backend refused or failed the upgrade, did not answer within the
/// handshake timeout, dropped the session within the early-abort window, or kept it past the window.
/// </summary>
/// <remarks>
/// <para>The two deadlines are checked by <see cref="UpgradeWatch"/>'s single ticker, never by a timer per attempt.</para>
/// <para>The attempt is itself the value-task source the breaker's execution awaits (one await, by Polly), so an
/// attempt waiting out its early-abort window is this object and Polly's own frames, nothing more: at a thousand
/// upgrades a second there are always a couple of thousand of them, living long enough for the GC to promote them.</para>
/// </remarks>
internal sealed class UpgradeAttempt : IValueTaskSource<Outcome<BackendFailure>>, IDisposable
{
    private const int Handshaking = 0;
    private const int Resolved = 1;

    private ManualResetValueTaskSourceCore<Outcome<BackendFailure>> _core;
    private CancellationTokenSource? _cancel;
    private ISessionUpgradeFeature? _upgrade;
    private Session? _session;
    private Action<UpgradeAttempt>? _onResolved;
    private readonly IPAddress? _client;
    private readonly long _handshakeDeadline;
    private readonly long _earlyAbortWindowTicks;
    private int _state;
    private int _reported;
    private bool _handshakeTimedOut;
    private int _failure;
    private bool _countsAsFailure;

    /// <param name="client">Who sent the upgrade (see <see cref="ClientFailureLedger"/>); null counts every failure.</param>
    /// <param name="isExecution">The attempt runs as an execution of the breaker; false when its client was past its
    /// cap: the breaker does not see it, and only a failure that counts anyway is reported to it afterwards.</param>
    public UpgradeAttempt(DestinationBreaker breaker, ISessionUpgradeFeature? upgrade, TimeProvider timeProvider, CancellationToken requestAborted, IPAddress? client = null, bool isExecution = true)
    {
        _core.RunContinuationsAsynchronously = true;
        Breaker = breaker;
        _client = client;
        IsExecution = isExecution;
        _upgrade = upgrade;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        Token = _cancel.Token;
        _handshakeDeadline = timeProvider.GetTimestamp() + ToTimestampTicks(breaker.Settings.HandshakeTimeout, timeProvider);
        _earlyAbortWindowTicks = ToTimestampTicks(breaker.Settings.EarlyAbortWindow, timeProvider);
    }

    public DestinationBreaker Breaker { get; }

    /// <summary>The attempt is an execution of the breaker (its client was within its cap when it started).</summary>
    public bool IsExecution { get; }

    /// <summary>
    /// Once resolved: the failure counts against the breaker. Connect failures always do; a failure the client could
    /// have provoked only while the client is within its cap (or when it is the half-open trial, let through as the one test).
    /// </summary>
    public bool CountsAsFailure => Volatile.Read(ref _countsAsFailure);

    /// <summary>The request's abort token for the forwarder: the client's abort, or the handshake timeout.</summary>
    public CancellationToken Token { get; }

    /// <summary>The outcome, for the breaker's execution to await (once).</summary>
    public ValueTask<Outcome<BackendFailure>> Outcome => new(this, _core.Version);

    /// <summary>How the attempt turned out, once it is resolved.</summary>
    public BackendFailure Failure => (BackendFailure)Volatile.Read(ref _failure);

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
    /// feature (which holds the request); the handshake's cancellation source is done with; and
    /// <paramref name="onResolved"/> is called once the outcome is known (by the watch), as the breaker middleware
    /// would have done had it waited.
    /// </summary>
    public void LeaveRequest(Action<UpgradeAttempt> onResolved)
    {
        Volatile.Write(ref _session, _upgrade?.Session);
        Volatile.Write(ref _upgrade, null);
        Interlocked.Exchange(ref _cancel, null)?.Dispose();
        Volatile.Write(ref _onResolved, onResolved);
        if (IsResolved)
        {
            Report();
        }
    }

    /// <summary>Records the outcome; only the first call counts.</summary>
    public bool Resolve(BackendFailure failure)
    {
        if (Interlocked.Exchange(ref _state, Resolved) == Resolved)
        {
            return false;
        }

        Complete(failure);
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
            Complete(BackendFailure.HandshakeTimeout);
            try
            {
                // Callbacks (the forwarder's cancellation) run on the thread pool, not on the ticker.
                _ = Volatile.Read(ref _cancel)?.CancelAsync();
            }
            catch (ObjectDisposedException)
            {
                // The request is over: nothing left to cancel.
            }
        }

        return IsResolved;
    }

    public void Dispose() => Interlocked.Exchange(ref _cancel, null)?.Dispose();

    private void Complete(BackendFailure failure)
    {
        Volatile.Write(ref _failure, (int)failure);
        // Decided before the outcome is published: the breaker's ShouldHandle reads it.
        Volatile.Write(ref _countsAsFailure, CountsAgainstBreaker(failure));
        _core.SetResult(Polly.Outcome.FromResult(failure));
        if (Volatile.Read(ref _onResolved) is not null)
        {
            Report();
        }
    }

    private void Report()
    {
        if (Interlocked.Exchange(ref _reported, 1) == 0)
        {
            Volatile.Read(ref _onResolved)!(this);
        }
    }

    private bool CountsAgainstBreaker(BackendFailure failure)
    {
        if (failure == BackendFailure.None)
        {
            return false;
        }

        if (!failure.IsClientProvokable() || _client is null)
        {
            return true;
        }

        return Breaker.Ledger.TryCount(_client) || (IsExecution && Breaker.Circuit == CircuitState.HalfOpen);
    }

    Outcome<BackendFailure> IValueTaskSource<Outcome<BackendFailure>>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<Outcome<BackendFailure>>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<Outcome<BackendFailure>>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    private static long ToTimestampTicks(TimeSpan span, TimeProvider timeProvider)
        => (long)(span.TotalSeconds * timeProvider.TimestampFrequency);
}
