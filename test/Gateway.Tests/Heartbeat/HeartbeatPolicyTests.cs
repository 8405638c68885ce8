using Gateway.Frames;
using Gateway.Heartbeat;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Heartbeat;

/// <summary>Every tier of the heartbeat as a pure function: timestamps in, decision out.</summary>
public sealed class HeartbeatPolicyTests
{
    private const long Second = TimeSpan.TicksPerSecond;
    private static readonly ManualTimeProvider Time = new();

    [Fact]
    public void QuietClient_IsKeptUntilProbeAfter_ThenPinged()
    {
        var session = New(Policy());

        var early = Evaluate(session, 24);
        Assert.Equal(HeartbeatAction.Keep, early.Action);
        Assert.Equal(Start + (25 * Second), early.NextCheck);

        var due = Evaluate(session, 25);
        Assert.Equal(HeartbeatAction.Ping, due.Action);
        Assert.Equal(SessionTier.Probing, due.Tier);
        Assert.Equal(Start + (35 * Second), due.NextCheck);
    }

    [Fact]
    public void UnansweredPing_WithAWriteToTheBackendWaitingSinceBeforeIt_BlamesTheBackend()
    {
        // The relay's write of the client's bytes has waited since second 20: the pong sits behind them.
        var stalled = New(Policy());
        stalled.RecordBackendWriteWaiting(Start + (20 * Second));
        stalled.RecordPingSent(Start + (25 * Second));
        Assert.Equal(HeartbeatAction.Keep, Evaluate(stalled, 34).Action);
        Assert.Equal(HeartbeatAction.EvictBackendStalled, Evaluate(stalled, 35).Action);

        // A write that began waiting after the ping went out cannot have held its pong back: the client is blamed.
        var late = New(Policy());
        late.RecordPingSent(Start + (25 * Second));
        late.RecordBackendWriteWaiting(Start + (30 * Second));
        Assert.Equal(HeartbeatAction.EvictUnresponsive, Evaluate(late, 35).Action);

        // Nor one that has since completed.
        var done = New(Policy());
        done.RecordBackendWriteWaiting(Start + (20 * Second));
        done.RecordBackendWriteDone();
        done.RecordPingSent(Start + (25 * Second));
        Assert.Equal(HeartbeatAction.EvictUnresponsive, Evaluate(done, 35).Action);
    }

    [Fact]
    public void AnyInboundFrame_ResetsTheProbe()
    {
        var session = New(Policy());
        session.RecordInbound(2, new ClientFilterResult { Frames = 1, Length = 2 }, Start + (20 * Second));

        var decision = Evaluate(session, 25);

        Assert.Equal(HeartbeatAction.Keep, decision.Action);
        Assert.Equal(Start + (45 * Second), decision.NextCheck);
    }

    [Fact]
    public void UnansweredPing_EvictsAfterPongTimeout_AnsweredPingDoesNot()
    {
        var session = New(Policy());
        session.RecordPingSent(Start + (25 * Second));

        var waiting = Evaluate(session, 34);
        Assert.Equal(HeartbeatAction.Keep, waiting.Action);
        Assert.Equal(SessionTier.Probing, waiting.Tier);
        Assert.Equal(Start + (35 * Second), waiting.NextCheck);
        Assert.Equal(HeartbeatAction.EvictUnresponsive, Evaluate(session, 35).Action);

        var answered = New(Policy());
        answered.RecordPingSent(Start + (25 * Second));
        answered.RecordInbound(18, new ClientFilterResult { Frames = 1, PongTimestamp = Start + (25 * Second) }, Start + (26 * Second));
        var decision = Evaluate(answered, 35);
        Assert.Equal(HeartbeatAction.Keep, decision.Action);
        Assert.Equal(Start + (51 * Second), decision.NextCheck);
    }

    [Fact]
    public void IdleTimeout_CountsApplicationMessagesOnly_PongsDoNotKeepASessionBusy()
    {
        var session = New(Policy(idleTimeout: 60));
        for (var t = 25; t < 60; t += 25)
        {
            session.RecordInbound(18, new ClientFilterResult { Frames = 1, PongTimestamp = Start + (t * Second) }, Start + ((t + 1) * Second));
        }

        Assert.Equal(SessionTier.Idle, Evaluate(session, 59).Tier);
        Assert.Equal(HeartbeatAction.EvictIdle, Evaluate(session, 60).Action);

        // A message in either direction restarts the idle clock.
        session.RecordOutbound(10, 1, Start + (50 * Second));
        Assert.Equal(HeartbeatAction.Keep, Evaluate(session, 60).Action);
        Assert.Equal(SessionTier.Active, Evaluate(session, 60).Tier);
    }

    [Fact]
    public void Pressure_ShrinksTheIdleLimit()
    {
        var session = New(Policy(idleTimeout: 40));
        Assert.Equal(HeartbeatAction.Keep, Evaluate(session, 20).Action);
        Assert.Equal(HeartbeatAction.EvictIdle, Evaluate(session, 20, new HeartbeatPressure(true, 0.5)).Action);
    }

    [Fact]
    public void RouteWithoutHeartbeat_IsOnlyLookedAtRarely()
    {
        var decision = Evaluate(New(Policy(heartbeat: false)), 1000);
        Assert.Equal(HeartbeatAction.Keep, decision.Action);
        Assert.Equal(Start + ((1000 + HeartbeatPolicy.UnwatchedRecheckSeconds) * Second), decision.NextCheck);
    }

    [Fact]
    public void GatewayClose_WaitsForItsDeadline_ThenAborts()
    {
        var session = New(Policy());
        session.TryBeginGatewayClose(SessionCloseReason.IdleTimeout, Start + (10 * Second));

        var waiting = Evaluate(session, 9);
        Assert.Equal(HeartbeatAction.Keep, waiting.Action);
        Assert.Equal(SessionTier.Closing, waiting.Tier);
        Assert.Equal(Start + (10 * Second), waiting.NextCheck);
        Assert.Equal(HeartbeatAction.Abort, Evaluate(session, 10).Action);
    }

    [Theory]
    [InlineData(0, 25)] // no round trip measured yet: the configured interval
    [InlineData(0.001, 5)] // 8 x 1 ms, clamped up to the minimum
    [InlineData(1, 8)] // 8 x 1 s
    [InlineData(10, 25)] // clamped down to the configured interval
    public void AdaptiveProbe_FollowsTheRoundTrip_Clamped(double roundTripSeconds, double expectedProbeSeconds)
    {
        var policy = Policy(roundTripMultiplier: 8);
        Assert.Equal((long)(expectedProbeSeconds * Second), policy.ProbeAfterFor((long)(roundTripSeconds * Second)));
    }

    [Fact]
    public void ProbeJitter_ShortensEachSessionsIntervalByAFixedShare_NeverLengthensIt()
    {
        var policy = TestServices.Policy(Time, probeJitter: 0.2);
        var intervals = Enumerable.Range(1, 1000).Select(id => policy.ProbeAfterFor(0, id)).ToList();

        Assert.All(intervals, interval => Assert.InRange(interval, 20 * Second, 25 * Second));
        Assert.True(intervals.Min() < 20.5 * Second && intervals.Max() > 24.5 * Second, "spread over the whole range");
        Assert.True(intervals.Distinct().Count() > 900, "consecutive ids land apart");
        Assert.Equal(policy.ProbeAfterFor(0, 7), policy.ProbeAfterFor(0, 7));

        // A session pinged at its own interval: no later than ProbeAfter after its last frame.
        var session = new Session(42, TestServices.StartInfo(policy: policy), Start);
        Assert.Equal(HeartbeatAction.Ping, Evaluate(session, policy.ProbeAfterFor(0, 42) / (double)Second).Action);
    }

    private static long Start => 1_000_000;

    private static SessionRoutePolicy Policy(double idleTimeout = 0, bool heartbeat = true, int roundTripMultiplier = 0)
        => TestServices.Policy(Time, idleTimeout: idleTimeout, heartbeat: heartbeat, roundTripMultiplier: roundTripMultiplier);

    private static Session New(SessionRoutePolicy policy) => new(1, TestServices.StartInfo(policy: policy), Start);

    private static HeartbeatDecision Evaluate(Session session, double atSeconds, HeartbeatPressure? pressure = null)
        => HeartbeatPolicy.Evaluate(session, Start + (long)(atSeconds * Second), pressure ?? HeartbeatPressure.None, Second);
}
