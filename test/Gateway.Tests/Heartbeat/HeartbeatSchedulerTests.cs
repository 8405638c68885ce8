using Gateway.Frames;
using Gateway.Heartbeat;
using Gateway.Sessions;
using Gateway.Telemetry;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Heartbeat;

/// <summary>The one ticker, driven tick by tick on a manual clock, with channels that stand in for the streams.</summary>
public sealed class HeartbeatSchedulerTests
{
    private readonly ManualTimeProvider _time = new();
    private readonly SessionRegistry _registry;
    private int _highWatermark = int.MaxValue;

    public HeartbeatSchedulerTests()
    {
        _registry = TestServices.Registry(_time);
    }

    [Fact]
    public void ClientThatAnswersPings_StaysForFiveProbeIntervals_PingedEachTime()
    {
        using var scheduler = Scheduler();
        var (session, channel) = Open(answers: true);

        Tick(scheduler, seconds: 125);

        Assert.False(channel.Closed);
        Assert.Equal(5, channel.Pings);
    }

    [Fact]
    public void ClientThatNeverAnswers_IsEvicted_WithinProbeAfterPlusPongTimeoutPlusOneTick()
    {
        using var scheduler = Scheduler();
        var (session, channel) = Open(answers: false);

        // Pinged at 25 s, nothing back by 35 s: evicted on that tick.
        Tick(scheduler, seconds: 34);
        Assert.False(channel.Closed);
        Assert.Equal(1, channel.Pings);
        Tick(scheduler, seconds: 1);

        Assert.True(channel.Closed);
        Assert.Equal((1001, "heartbeat timeout"), channel.Close);
        Assert.Equal(SessionCloseReason.HeartbeatTimeout, session.GatewayCloseReason);
        Assert.Equal(SessionTier.Closing, session.Tier);

        // The close frame had a tick to leave; then the transport is aborted (unless the session ended by then).
        Assert.Equal(0, channel.Aborts);
        Tick(scheduler, seconds: 1);
        Assert.Equal(1, channel.Aborts);
    }

    [Fact]
    public void IdleSession_IsClosedAfterItsRoutesIdleTimeout_EvenThoughItAnswersPings()
    {
        using var scheduler = Scheduler();
        var (session, channel) = Open(answers: true, TestServices.Policy(_time, idleTimeout: 60));

        Tick(scheduler, seconds: 59);
        Assert.False(channel.Closed);
        Tick(scheduler, seconds: 2);

        Assert.Equal((1001, "idle timeout"), channel.Close);
        Assert.Equal(SessionCloseReason.IdleTimeout, session.GatewayCloseReason);
    }

    [Fact]
    public void CloseThatNeverFinishes_IsAbortedAtItsDeadline()
    {
        using var scheduler = Scheduler();
        var (session, channel) = Open(answers: true, TestServices.Policy(_time, idleTimeout: 10, closeTimeout: 5));

        Tick(scheduler, seconds: 11);
        Assert.True(channel.Closed);
        Assert.Equal(0, channel.Aborts);
        Tick(scheduler, seconds: 6);

        Assert.Equal(1, channel.Aborts);
    }

    [Fact]
    public void Pressure_ShedsTheColdestFirst_DownToTheHighWatermark_NeverTheHotOnes()
    {
        using var scheduler = Scheduler(new HeartbeatOptions { Pressure = { MaxEvictionsPerTick = 100, MinIdle = TimeSpan.FromSeconds(1) } });
        var opened = Enumerable.Range(0, 10).Select(_ => Open(answers: true)).ToList();
        Tick(scheduler, seconds: 1);

        // Sessions 0..9: session i last carried a message i seconds after the start; 7, 8, 9 are hot (every second).
        for (var second = 1; second <= 20; second++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            for (var i = 0; i < opened.Count; i++)
            {
                if (i >= 7 || second == i)
                {
                    opened[i].Session.RecordOutbound(10, 1, _time.GetTimestamp());
                }
            }
        }

        _highWatermark = 6;
        scheduler.OnHeartbeat();

        var shed = opened.Where(o => o.Channel.Closed).Select(o => opened.IndexOf(o)).ToList();
        Assert.Equal([0, 1, 2, 3], shed);
        Assert.All(shed, i => Assert.Equal((1013, "shed under load"), opened[i].Channel.Close));
        Assert.All(opened.Skip(7), o => Assert.False(o.Channel.Closed));

        // Sessions being closed no longer count against the watermark: nothing more is shed.
        scheduler.OnHeartbeat();
        Assert.Equal(4, opened.Count(o => o.Channel.Closed));
    }

    [Fact]
    public void Pressure_ShedsAtMostTheConfiguredNumberPerTick()
    {
        using var scheduler = Scheduler(new HeartbeatOptions { Pressure = { MaxEvictionsPerTick = 3, MinIdle = TimeSpan.Zero } });
        var opened = Enumerable.Range(0, 20).Select(_ => Open(answers: true)).ToList();
        _highWatermark = 5;

        Tick(scheduler, seconds: 1);
        Assert.Equal(3, opened.Count(o => o.Channel.Closed));
        Tick(scheduler, seconds: 1);
        Assert.Equal(6, opened.Count(o => o.Channel.Closed));
    }

    [Fact]
    public void HeartbeatOff_NoPingsNoShedding_ButAGatewayClosesDeadlineStillHolds()
    {
        using var scheduler = Scheduler(new HeartbeatOptions { Enabled = false });
        var quiet = Enumerable.Range(0, 6).Select(_ => Open(answers: false, TestServices.Policy(_time, heartbeat: false))).ToList();
        _highWatermark = 2;
        quiet[0].Session.TryBeginGatewayClose(SessionCloseReason.ProtocolError, _time.GetTimestamp() + (5 * TimeSpan.TicksPerSecond));

        // Past any probe and pong timeout; the abort comes at the close's deadline (and again a minute later,
        // should the connection still be there).
        Tick(scheduler, seconds: 60);

        Assert.All(quiet, q => Assert.Equal(0, q.Channel.Pings));
        Assert.All(quiet, q => Assert.False(q.Channel.Closed));
        Assert.Equal(1, quiet[0].Channel.Aborts);
    }

    [Fact]
    public void ATick_VisitsOnlyTheSessionsThatAreDue()
    {
        using var scheduler = Scheduler();
        for (var i = 0; i < 1000; i++)
        {
            Open(answers: true);
        }

        Tick(scheduler, seconds: 1);
        Assert.Equal(1000, scheduler.LastTickVisits);
        Tick(scheduler, seconds: 1);
        Assert.Equal(0, scheduler.LastTickVisits);
        Tick(scheduler, seconds: 23);
        Assert.Equal(1000, scheduler.LastTickVisits);
    }

    [Fact]
    public void EndedSessions_FallOffTheWheel()
    {
        using var scheduler = Scheduler();
        var (session, channel) = Open(answers: true);
        Tick(scheduler, seconds: 1);
        Assert.Equal(1, scheduler.Scheduled);

        _registry.Close(session, SessionCloseReason.ClientClose);
        Tick(scheduler, seconds: 30);

        Assert.Equal(0, scheduler.Scheduled);
        Assert.Equal(0, channel.Pings);
    }

    [Fact]
    public void CountByTier_CountsWhatTheTicksDecided()
    {
        using var scheduler = Scheduler();
        Open(answers: false);
        Open(answers: true);
        Tick(scheduler, seconds: 25);

        Span<int> counts = stackalloc int[4];
        scheduler.CountByTier(counts);

        Assert.Equal(2, counts[(int)SessionTier.Probing] + counts[(int)SessionTier.Idle]);
        Assert.Equal(2, counts[0] + counts[1] + counts[2] + counts[3]);
    }

    private HeartbeatScheduler Scheduler(HeartbeatOptions? options = null)
        => new(
            _registry,
            Options.Create(options ?? new HeartbeatOptions()),
            () => _highWatermark,
            new HeartbeatMetrics(TestServices.MeterFactory()),
            _time,
            NullLogger<HeartbeatScheduler>.Instance);

    private (Session Session, FakeChannel Channel) Open(bool answers, SessionRoutePolicy? policy = null)
    {
        var session = _registry.Open(TestServices.StartInfo(policy: policy ?? TestServices.Policy(_time)));
        var channel = new FakeChannel(session, _time, answers);
        session.Channel = channel;
        return (session, channel);
    }

    private void Tick(HeartbeatScheduler scheduler, int seconds)
    {
        for (var i = 0; i < seconds; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            scheduler.OnHeartbeat();
        }
    }

    /// <summary>A client that answers a ping at once (or never), and records what the gateway did to it.</summary>
    private sealed class FakeChannel(Session session, TimeProvider time, bool answers) : ISessionChannel
    {
        public int Pings { get; private set; }

        public int Aborts { get; private set; }

        public (int Status, string Reason) Close { get; private set; }

        public bool Closed => Close.Status != 0;

        public bool SendPing(long timestamp)
        {
            Pings++;
            session.RecordPingSent(timestamp);
            if (answers)
            {
                session.RecordInbound(18, new ClientFilterResult { Frames = 1, Pongs = 1, PongTimestamp = timestamp }, time.GetTimestamp());
            }

            return true;
        }

        void ISessionChannel.Close(SessionEnd end, string? detail) => Close = (end.ClientStatus, end.ClientText);

        public void Abort() => Aborts++;
    }
}
