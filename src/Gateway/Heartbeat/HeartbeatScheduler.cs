using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.Extensions.Options;

namespace Gateway.Heartbeat;

/// <summary>
/// One ticker for every session (Kestrel's <c>Heartbeat</c> is the model: one loop, deadlines as timestamps with
/// a tick of slack, slow ticks logged, never dies on an exception, <see cref="OnHeartbeat"/> callable by tests).
/// Sessions sit on a timing wheel in the slot of the tick at which something may be due for them, so a tick
/// costs O(sessions due), never O(all sessions): an idle session is looked at about once per probe interval.
/// What to do is decided by <see cref="HeartbeatPolicy.Evaluate"/>; this class only acts on it.
/// </summary>
/// <remarks>
/// <para>Only the ticker touches the wheel: 1,024 slots, each an array of the sessions due at that tick (grown to
/// its peak and reused). New sessions arrive on a lock-free stack (linked through <see cref="Session.WheelNext"/>,
/// no allocation) that each tick drains. A session's activity never moves it on the wheel (that would cost work
/// per message): when its slot comes up, the policy reads its timestamps and places it again at its real next
/// deadline. Ended sessions fall off when their slot comes up.</para>
/// <para>Tier 4 (pressure) is the one walk of all sessions, and only while active sessions are above the high
/// watermark: it picks the coldest (longest without an application message) with a bounded heap.</para>
/// </remarks>
internal sealed partial class HeartbeatScheduler : IHostedService, IHeartbeatGauges, IDisposable
{
    private const int WheelSize = 1024;
    private const int WheelMask = WheelSize - 1;

    /// <summary>How many visits ahead a session is prefetched (a visit is roughly one memory latency of work).</summary>
    private const int PrefetchDistance = 16;

    private readonly SessionRegistry _registry;
    private readonly HeartbeatOptions _options;
    private readonly Func<int> _highWatermark;
    private readonly HeartbeatMetrics _metrics;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<HeartbeatScheduler> _logger;
    private readonly Session?[][] _wheel = new Session?[WheelSize][];
    private readonly int[] _slotCounts = new int[WheelSize];
    private Session?[] _spare = [];
    private readonly long _origin;
    private readonly long _tickLength;
    private readonly long _frequency;
    private readonly PriorityQueue<Session, long> _coldest = new();
    private Session? _incoming;
    private long _processedTick;
    private long _currentTick;
    private int _ticking;
    private ITimer? _timer;

    public HeartbeatScheduler(
        SessionRegistry registry,
        IOptions<HeartbeatOptions> options,
        Func<int> highWatermark,
        HeartbeatMetrics metrics,
        TimeProvider timeProvider,
        ILogger<HeartbeatScheduler> logger)
    {
        _registry = registry;
        _options = options.Value;
        _highWatermark = highWatermark;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _logger = logger;
        _frequency = timeProvider.TimestampFrequency;
        _tickLength = Math.Max(1, (long)(_options.TickInterval.TotalSeconds * _frequency));
        _origin = timeProvider.GetTimestamp();
        for (var i = 0; i < WheelSize; i++)
        {
            _wheel[i] = [];
        }

        metrics.Observe(this);
        // Even with the heartbeat off (no pings, no evictions: every route's policy says so) the ticker enforces the
        // deadlines of closes the gateway starts itself (refused frames, lost clients), at one look a minute.
        registry.Opened += Add;
    }

    /// <summary>Sessions on the wheel or waiting to get on it (ended ones included until their slot comes up).</summary>
    internal int Scheduled { get; private set; }

    /// <summary>Sessions the last tick evaluated (its cost is proportional to this, not to all sessions).</summary>
    internal int LastTickVisits { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _timer = _timeProvider.CreateTimer(static state => ((HeartbeatScheduler)state!).OnTimer(), this, _options.TickInterval, _options.TickInterval);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _registry.Opened -= Add;
        _timer?.Dispose();
    }

    /// <summary>Takes a new session onto the wheel at the next tick (from any thread; lock-free).</summary>
    public void Add(Session session)
    {
        var head = Volatile.Read(ref _incoming);
        while (true)
        {
            session.WheelNext = head;
            var seen = Interlocked.CompareExchange(ref _incoming, session, head);
            if (ReferenceEquals(seen, head))
            {
                return;
            }

            head = seen;
        }
    }

    private void OnTimer()
    {
        if (Interlocked.Exchange(ref _ticking, 1) != 0)
        {
            Log.TickSkipped(_logger);
            return;
        }

        try
        {
            OnHeartbeat();
        }
        catch (Exception exception)
        {
            // Never let one bad tick stop the heartbeat for every session.
            Log.TickFailed(_logger, exception);
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }

    /// <summary>One tick: every session whose slot is due, then the pressure step. Tests call it directly.</summary>
    internal void OnHeartbeat()
    {
        var started = Stopwatch.GetTimestamp();
        var now = _timeProvider.GetTimestamp();
        var target = (now - _origin) / _tickLength;
        var pressure = PressureNow();

        // Newcomers are looked at in this tick: their first deadline is placed by the policy.
        LastTickVisits = 0;
        var incoming = Interlocked.Exchange(ref _incoming, null);
        _currentTick = _processedTick;
        while (incoming is not null)
        {
            var next = incoming.WheelNext;
            Scheduled++;
            Place(incoming, _processedTick + 1);
            incoming = next;
        }

        // After a long stall, one turn of the wheel visits everything.
        var first = Math.Max(_processedTick + 1, target - WheelSize + 1);
        for (var tick = first; tick <= target; tick++)
        {
            _currentTick = tick;
            var index = (int)(tick & WheelMask);
            var count = _slotCounts[index];
            if (count == 0)
            {
                continue;
            }

            // The slot's sessions leave through a swap with an empty array, so what is placed back into this same
            // slot (a deadline a whole turn away) goes into the fresh one.
            var due = _wheel[index];
            _wheel[index] = _spare;
            _slotCounts[index] = 0;
            for (var i = 0; i < count; i++)
            {
                // An array, not a list through the sessions: the next session's address does not wait on this
                // one's cache miss, so the processor overlaps the misses of consecutive visits.
                if (i + PrefetchDistance < count)
                {
                    Prefetch(due[i + PrefetchDistance]!);
                }

                if (i + (PrefetchDistance / 2) < count)
                {
                    // Half-way: that session is in the cache now; if it is likely to be pinged, its channel next.
                    var soon = due[i + (PrefetchDistance / 2)]!;
                    if (soon.PingSentTimestamp == 0 && soon.Channel is { } channel)
                    {
                        Prefetch(channel);
                    }
                }

                var session = due[i]!;
                due[i] = null;
                if (session.HasEnded)
                {
                    Scheduled--;
                }
                else if (session.WheelTick > target)
                {
                    Place(session, session.WheelTick);
                }
                else
                {
                    Visit(session, now, pressure);
                }
            }

            _spare = Shrunk(due, count);
        }

        _processedTick = Math.Max(_processedTick, target);
        if (pressure.Active)
        {
            Shed(now);
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        _metrics.Tick(elapsed.TotalSeconds);
        if (elapsed > _options.TickInterval)
        {
            Log.SlowTick(_logger, elapsed.TotalMilliseconds, _options.TickInterval.TotalMilliseconds);
        }
    }

    private HeartbeatPressure PressureNow()
    {
        var pressure = _options.Pressure;
        return _options.Enabled && pressure.Enabled && _registry.Count > _highWatermark()
            ? new HeartbeatPressure(true, pressure.IdleFactor)
            : HeartbeatPressure.None;
    }

    private void Visit(Session session, long now, in HeartbeatPressure pressure)
    {
        LastTickVisits++;
        var decision = HeartbeatPolicy.Evaluate(session, now, pressure, _frequency);
        if (session.Tier != decision.Tier)
        {
            session.Tier = decision.Tier;
        }

        switch (decision.Action)
        {
            case HeartbeatAction.Ping:
                if (session.Channel?.SendPing(now) == true)
                {
                    _metrics.Ping(session.RouteId);
                }

                break;
            case HeartbeatAction.EvictUnresponsive:
                // The client is most likely gone: its transport is aborted on the next tick unless the close
                // handshake (the backend answers at once) ends the session first. Aborting right away could
                // discard the close frame before it left.
                Evict(session, now, SessionCloseReason.HeartbeatTimeout, "unresponsive");
                break;
            case HeartbeatAction.EvictBackendStalled:
                // The client may well be fine: its pong is stuck behind bytes the backend does not take.
                Evict(session, now, SessionCloseReason.BackendStalled, "backend_stalled");
                break;
            case HeartbeatAction.EvictIdle:
                Evict(session, now, SessionCloseReason.IdleTimeout, "idle");
                break;
            case HeartbeatAction.Abort:
                Log.CloseTimedOut(_logger, session.Id, session.GatewayCloseReason?.ToTagValue());
                session.Channel?.Abort();
                break;
        }

        Place(session, TickOf(decision.NextCheck));
    }

    /// <summary>Closes the session as the session-end table says for <paramref name="reason"/>, and counts it under <paramref name="tier"/>.</summary>
    private void Evict(Session session, long now, SessionCloseReason reason, string tier)
    {
        var lastInbound = session.LastInboundTimestamp;
        var lastMessage = session.LastMessageTimestamp;
        if (!session.BeginClose(reason, now, tickLength: _tickLength))
        {
            return;
        }

        _metrics.Evicted(session.RouteId, tier);
        Log.Evicted(_logger, session.Id, session.RouteId, tier, session.ClientAddress, (double)(now - lastInbound) / _frequency, (double)(now - lastMessage) / _frequency);
    }

    /// <summary>Tier 4: closes the coldest sessions, at most a bounded number per tick, down to the high watermark.</summary>
    private void Shed(long now)
    {
        var options = _options.Pressure;
        var minIdle = (long)(options.MinIdle.TotalSeconds * _frequency);
        var closing = 0;
        var queue = _coldest;
        queue.Clear();
        var limit = options.MaxEvictionsPerTick;
        foreach (var session in _registry.Sessions)
        {
            if (session.GatewayCloseReason is not null || session.HasEnded)
            {
                closing++;
                continue;
            }

            var lastMessage = session.LastMessageTimestamp;
            if (!session.Policy.Heartbeat || session.Channel is null || now - lastMessage < minIdle)
            {
                continue;
            }

            // A max-heap (by recency) of the coldest seen so far: the warmest of them leaves when a colder one comes.
            if (queue.Count < limit)
            {
                queue.Enqueue(session, -lastMessage);
            }
            else if (queue.TryPeek(out _, out var warmest) && -lastMessage > warmest)
            {
                queue.DequeueEnqueue(session, -lastMessage);
            }
        }

        var excess = _registry.Count - closing - _highWatermark();
        if (excess <= 0)
        {
            return;
        }

        // The heap yields warmest first; shed from the cold end.
        var candidates = new Session[queue.Count];
        for (var i = candidates.Length - 1; i >= 0; i--)
        {
            candidates[i] = queue.Dequeue();
        }

        foreach (var session in candidates.AsSpan(0, Math.Min(excess, candidates.Length)))
        {
            Evict(session, now, SessionCloseReason.Pressure, "pressure");
        }
    }

    private long TickOf(long timestamp)
    {
        var offset = timestamp - _origin;
        return offset <= 0 ? 0 : (offset + _tickLength - 1) / _tickLength;
    }

    private void Place(Session session, long tick)
    {
        // Never into a slot this tick has already emptied.
        tick = Math.Max(tick, _currentTick + 1);
        session.WheelTick = tick;
        var index = (int)(tick & WheelMask);
        var slot = _wheel[index];
        var count = _slotCounts[index];
        if (count == slot.Length)
        {
            // Grows to the slot's peak (about the sessions due in one tick); kept, so steady ticking allocates nothing.
            Array.Resize(ref slot, Math.Max(64, slot.Length * 2));
            _wheel[index] = slot;
        }

        slot[count] = session;
        _slotCounts[index] = count + 1;
    }

    /// <summary>
    /// Asks the processor to start loading a session that will be visited a few visits from now, so its cache miss
    /// overlaps the visits before it instead of stalling its own. A prefetch is only a hint: should the collector
    /// move the object in between, the hint is wasted, never wrong.
    /// </summary>
    private static unsafe void Prefetch(ISessionChannel channel)
    {
        if (Sse.IsSupported)
        {
            // The reference is the object's address (its method table); a ping reads its first lines.
            var address = (byte*)Unsafe.As<ISessionChannel, nint>(ref channel);
            Sse.Prefetch0(address);
            Sse.Prefetch0(address + 64);
        }
    }

    private static unsafe void Prefetch(Session session)
    {
        if (Sse.IsSupported)
        {
            // The object spans about four cache lines; a visit reads from its start (links, binding, timestamps)
            // to its end (flags, close state, tier).
            var address = (byte*)Unsafe.AsPointer(ref session.WheelTick);
            Sse.Prefetch0(address - 96);
            Sse.Prefetch0(address - 32);
            Sse.Prefetch0(address + 32);
            Sse.Prefetch0(address + 96);
        }
    }

    /// <summary>An emptied slot array to reuse; a much larger one than was needed (after a spike) is let go.</summary>
    private static Session?[] Shrunk(Session?[] emptied, int used)
        => emptied.Length > 1024 && emptied.Length > used * 4 ? new Session?[Math.Max(64, used * 2)] : emptied;

    public void CountByTier(Span<int> counts)
    {
        counts.Clear();
        foreach (var session in _registry.Sessions)
        {
            var tier = (int)session.Tier;
            if ((uint)tier < (uint)counts.Length)
            {
                counts[tier]++;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Session {SessionId} on route {RouteId} evicted ({Tier}); client {ClientAddress}, last frame from it {InboundSeconds:F1} s ago, last message {MessageSeconds:F1} s ago.", EventName = "SessionEvicted")]
        public static partial void Evicted(ILogger logger, long sessionId, string routeId, string tier, System.Net.IPAddress? clientAddress, double inboundSeconds, double messageSeconds);

        [LoggerMessage(2, LogLevel.Debug, "Session {SessionId}: the close the gateway started ({Reason}) did not finish in time; aborting the connection.", EventName = "CloseTimedOut")]
        public static partial void CloseTimedOut(ILogger logger, long sessionId, string? reason);

        [LoggerMessage(3, LogLevel.Warning, "Heartbeat tick took {ElapsedMilliseconds:F0} ms, longer than the tick interval of {IntervalMilliseconds:F0} ms.", EventName = "SlowTick")]
        public static partial void SlowTick(ILogger logger, double elapsedMilliseconds, double intervalMilliseconds);

        [LoggerMessage(4, LogLevel.Warning, "Heartbeat tick skipped: the previous one is still running.", EventName = "TickSkipped")]
        public static partial void TickSkipped(ILogger logger);

        [LoggerMessage(5, LogLevel.Error, "Heartbeat tick failed; the next tick goes on.", EventName = "TickFailed")]
        public static partial void TickFailed(ILogger logger, Exception exception);
    }
}
