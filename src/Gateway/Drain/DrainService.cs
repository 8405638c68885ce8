using Gateway.Heartbeat;
using Gateway.Hosting;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.Extensions.Options;

namespace Gateway.Drain;

/// <summary>
/// Graceful drain. On shutdown (SIGTERM from Kubernetes, or any <c>StopApplication</c>): readiness fails and new
/// upgrades are refused at once; after <see cref="DrainOptions.Delay"/> every open session is told to go away,
/// in batches spread across <see cref="DrainOptions.Window"/> (see <see cref="DrainSchedule"/>); the drain ends
/// when no session is left, or at the window's end plus the close timeout, when the stragglers are aborted.
/// </summary>
/// <remarks>
/// <para>It runs in <see cref="IHostedLifecycleService.StoppingAsync"/>, which the host calls before stopping any
/// hosted service: Kestrel (which would stop listening, then wait for the upgraded connections to end by
/// themselves) and the heartbeat ticker (which enforces the close deadlines) both still run. YARP has no drain
/// of its own; without this, every session is aborted at the host's shutdown timeout.</para>
/// <para>One loop for the whole drain, on the <see cref="TimeProvider"/>: no timer per session. A session is
/// "told to go away" (<see cref="SessionEnds.Drain"/>, through <see cref="Session.BeginClose"/>): the backend gets close 1001 "going away" after
/// the last whole message the gateway accepted from the client, and its answer (what it still sends, then its
/// close frame) reaches the client as usual, so nothing already accepted in either direction is lost.</para>
/// </remarks>
internal sealed partial class DrainService : IHostedLifecycleService, IDrainGauges
{

    private static readonly TimeSpan ProgressLogInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan SettleInterval = TimeSpan.FromMilliseconds(50);

    private readonly SessionRegistry _registry;
    private readonly ReadinessState _readiness;
    private readonly DrainOptions _options;
    private readonly TimeSpan _closeTimeout;
    private readonly DrainMetrics _metrics;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<DrainService> _logger;
    private long _startedAt;
    private int _draining;
    private int _told;
    private Task? _drain;

    public DrainService(
        SessionRegistry registry,
        ReadinessState readiness,
        IOptions<DrainOptions> options,
        IOptions<HeartbeatOptions> heartbeat,
        DrainMetrics metrics,
        TimeProvider timeProvider,
        ILogger<DrainService> logger)
    {
        _registry = registry;
        _readiness = readiness;
        _options = options.Value;
        _closeTimeout = heartbeat.Value.CloseTimeout;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _logger = logger;
        metrics.Observe(this);
    }

    public bool Draining => Volatile.Read(ref _draining) != 0;

    public double ElapsedSeconds => Draining ? _timeProvider.GetElapsedTime(Volatile.Read(ref _startedAt)).TotalSeconds : 0;

    public int Remaining => Draining ? _registry.Count : 0;

    /// <summary>
    /// The drain; completes when it is over. Every caller gets the same drain: a second stop request while one
    /// runs waits for it instead of letting the host stop the server under it.
    /// </summary>
    public Task DrainAsync(CancellationToken cancellationToken)
    {
        // Created cold, started only by the caller that installs it.
        var start = new Task<Task>(() => RunAsync(cancellationToken));
        var drain = start.Unwrap();
        if (Interlocked.CompareExchange(ref _drain, drain, null) is { } running)
        {
            return running;
        }

        start.Start(TaskScheduler.Default);
        return drain;
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        Volatile.Write(ref _draining, 1);
        Volatile.Write(ref _startedAt, _timeProvider.GetTimestamp());
        _readiness.BeginShutdown();
        _metrics.Begin();
        Log.Started(_logger, _registry.Count, _options.Delay.TotalSeconds, _options.Window.TotalSeconds);

        var aborted = 0;
        try
        {
            await DelayAsync(_options.Delay, cancellationToken);
            await CloseAcrossWindowAsync(cancellationToken);
            await WaitForSessionsAsync(_closeTimeout, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The host's shutdown timeout came first: what is left is aborted below.
            Log.Cut(_logger, _registry.Count);
        }

        foreach (var session in _registry.Sessions)
        {
            if (session.Channel is { } channel)
            {
                channel.Abort();
                aborted++;
            }
        }

        _metrics.Closed(DrainMetrics.Aborted, aborted);
        Log.Completed(_logger, Volatile.Read(ref _told), aborted, _timeProvider.GetElapsedTime(_startedAt).TotalSeconds);
    }

    /// <summary>Sends the closes: the sessions open when the window starts, in random order, each at its time.</summary>
    private async Task CloseAcrossWindowAsync(CancellationToken cancellationToken)
    {
        var lastProgress = _timeProvider.GetTimestamp();
        await DrainSchedule.CloseAcrossAsync(
            _registry.Sessions.ToArray(),
            _options.Window,
            _options.BatchInterval,
            _timeProvider,
            GoAway,
            (batch, elapsed, remaining) =>
            {
                Told(batch);
                if (remaining > 0 && _timeProvider.GetElapsedTime(lastProgress) >= ProgressLogInterval)
                {
                    lastProgress = _timeProvider.GetTimestamp();
                    Log.Progress(_logger, Volatile.Read(ref _told), _registry.Count, elapsed.TotalSeconds, _options.Window.TotalSeconds);
                }
            },
            cancellationToken);

        TellLateSessions();
    }

    /// <summary>Sessions whose upgrade was under way when the window started (admission refuses new ones).</summary>
    private void TellLateSessions()
    {
        var late = 0;
        foreach (var session in _registry.Sessions)
        {
            late += GoAway(session);
        }

        Told(late);
    }

    private void Told(int count)
    {
        Interlocked.Add(ref _told, count);
        _metrics.Closed(DrainMetrics.GoingAway, count);
    }

    private int GoAway(Session session)
        // Ended meanwhile, or already closing for another reason (its own deadline applies): not counted.
        => !session.HasEnded && session.BeginClose(SessionCloseReason.Drain, _timeProvider.GetTimestamp()) ? 1 : 0;

    /// <summary>Waits for the close handshakes of the last batch, at most <paramref name="timeout"/>.</summary>
    private async Task WaitForSessionsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = _timeProvider.GetTimestamp();
        while (_registry.Count > 0 && _timeProvider.GetElapsedTime(started) < timeout)
        {
            await DelayAsync(SettleInterval, cancellationToken);
            TellLateSessions();
        }
    }

    private Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
        => delay > TimeSpan.Zero ? Task.Delay(delay, _timeProvider, cancellationToken) : Task.CompletedTask;

    Task IHostedLifecycleService.StoppingAsync(CancellationToken cancellationToken) => DrainAsync(cancellationToken);

    Task IHostedLifecycleService.StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedLifecycleService.StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedLifecycleService.StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedService.StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedService.StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Drain started: {Sessions} sessions; closes begin in {DelaySeconds} s and are spread over {WindowSeconds} s. Readiness fails and new sessions are refused from now on.", EventName = "DrainStarted")]
        public static partial void Started(ILogger logger, int sessions, double delaySeconds, double windowSeconds);

        [LoggerMessage(2, LogLevel.Information, "Drain: {Closed} sessions told to go away, {Remaining} still open, {ElapsedSeconds:F1} s of the {WindowSeconds} s window gone.", EventName = "DrainProgress")]
        public static partial void Progress(ILogger logger, int closed, int remaining, double elapsedSeconds, double windowSeconds);

        [LoggerMessage(3, LogLevel.Information, "Drain completed in {ElapsedSeconds:F1} s: {Told} sessions told to go away, {Aborted} aborted (still open at the end).", EventName = "DrainCompleted")]
        public static partial void Completed(ILogger logger, int told, int aborted, double elapsedSeconds);

        [LoggerMessage(4, LogLevel.Warning, "Drain cut short by the host's shutdown timeout with {Remaining} sessions open; they are aborted.", EventName = "DrainCut")]
        public static partial void Cut(ILogger logger, int remaining);
    }
}
