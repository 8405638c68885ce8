using Gateway.Sessions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Sessions;

/// <summary>
/// <see cref="Session.BeginClose"/>, the one way the gateway starts a session's end, and
/// <see cref="Session.AttachChannel"/>: the first close wins and is carried out exactly once, through the channel,
/// whether the relay's channel was already there or arrives later (the lean path's moment between 101 and relay).
/// </summary>
public sealed class SessionCloseTests
{
    private const long Now = 1_000_000;

    private readonly ManualTimeProvider _time = new();

    [Fact]
    public void BeginClose_WithAChannel_RecordsReasonAndDeadline_Closing_AndTellsTheChannelTheRowAndDetail()
    {
        var (session, channel) = Attached();

        Assert.True(session.BeginClose(SessionCloseReason.ProtocolError, Now, "reserved bits set"));

        Assert.Equal(SessionCloseReason.ProtocolError, session.GatewayCloseReason);
        Assert.Equal(Now + CloseTimeout(session), session.CloseDeadline);
        Assert.Equal(SessionTier.Closing, session.Tier);
        var close = Assert.Single(channel.Closes);
        Assert.Same(SessionEnds.ProtocolError, close.End);
        Assert.Equal("reserved bits set", close.Detail);
        // The channel acts on a session that already knows it is closing (its legs read the close state).
        Assert.Equal(SessionCloseReason.ProtocolError, close.ReasonSeen);
        Assert.Equal(Now + CloseTimeout(session), close.DeadlineSeen);
    }

    [Theory]
    [InlineData(nameof(SessionCloseReason.IdleTimeout))]
    [InlineData(nameof(SessionCloseReason.ClientLost))]
    [InlineData(nameof(SessionCloseReason.BackendLost))]
    [InlineData(nameof(SessionCloseReason.HeartbeatTimeout))]
    [InlineData(nameof(SessionCloseReason.Pressure))]
    [InlineData(nameof(SessionCloseReason.ProtocolError))]
    [InlineData(nameof(SessionCloseReason.MessageTooBig))]
    [InlineData(nameof(SessionCloseReason.Drain))]
    public void BeginClose_AnyReason_TheChannelGetsThatReasonsRow(string name)
    {
        var reason = Enum.Parse<SessionCloseReason>(name);
        var (session, channel) = Attached();

        Assert.True(session.BeginClose(reason, Now));

        var close = Assert.Single(channel.Closes);
        Assert.Same(SessionEnds.Of(reason), close.End);
        Assert.Null(close.Detail);
        Assert.Equal(reason, session.GatewayCloseReason);
    }

    [Fact]
    public void BeginClose_HeartbeatTimeout_DeadlineIsOneTickAway()
    {
        // The client stopped answering: waiting the whole close timeout for its close reply is pointless.
        var (session, _) = Attached();
        const long Tick = 250;

        Assert.True(session.BeginClose(SessionCloseReason.HeartbeatTimeout, Now, tickLength: Tick));

        Assert.Equal(Now + Tick, session.CloseDeadline);
        Assert.NotEqual(Tick, CloseTimeout(session));
    }

    [Fact]
    public void BeginClose_HeartbeatTimeoutWithoutATick_TheCloseTimeout()
    {
        var (session, _) = Attached();

        Assert.True(session.BeginClose(SessionCloseReason.HeartbeatTimeout, Now));

        Assert.Equal(Now + CloseTimeout(session), session.CloseDeadline);
    }

    [Fact]
    public void BeginClose_OtherReasonWithATick_StillTheCloseTimeout()
    {
        // Only rows that say so abort one tick later; a drain or a shed session gets the whole handshake time.
        var (session, _) = Attached();

        Assert.True(session.BeginClose(SessionCloseReason.Pressure, Now, tickLength: 250));

        Assert.Equal(Now + CloseTimeout(session), session.CloseDeadline);
    }

    [Fact]
    public void BeginClose_Twice_SecondReturnsFalse_TheFirstStands_ChannelToldOnce()
    {
        var (session, channel) = Attached();
        Assert.True(session.BeginClose(SessionCloseReason.Pressure, Now, "first"));

        Assert.False(session.BeginClose(SessionCloseReason.Drain, Now + 500, "second", tickLength: 1));
        Assert.False(session.BeginClose(SessionCloseReason.Pressure, Now + 900));

        Assert.Equal(SessionCloseReason.Pressure, session.GatewayCloseReason);
        Assert.Equal(Now + CloseTimeout(session), session.CloseDeadline);
        var close = Assert.Single(channel.Closes);
        Assert.Same(SessionEnds.Pressure, close.End);
        Assert.Equal("first", close.Detail);
    }

    [Fact]
    public void BeginCloseWith_AnOperatorsRow_BeforeAttachChannel_TheChannelGetsThatRowWithItsCode()
    {
        // An operator's close carries its own status and reason: the session keeps the row, not only the reason,
        // so a channel that attaches later still sends the operator's code (not the Operator row's default 1000).
        var session = New();
        var end = SessionEnds.ByOperator(4001, "kicked");

        Assert.True(session.BeginCloseWith(end, Now));
        var channel = new RecordingChannel(session);
        session.AttachChannel(channel);

        Assert.Same(end, Assert.Single(channel.Closes).End);
        Assert.Same(end, session.GatewayEnd);
        Assert.Equal(SessionCloseReason.Operator, session.GatewayCloseReason);
        Assert.True(session.IsEnding);
        Assert.Equal("operator", session.GatewayCloseReason!.Value.ToTagValue());
    }

    [Fact]
    public void ByOperator_EncodesTheChosenStatusAndReason_BackendTold1001First()
    {
        var end = SessionEnds.ByOperator(4001, "kicked");
        var fallback = SessionEnds.ByOperator(1012, null);

        Assert.Equal([0x88, 8, 0x0F, 0xA1, .. "kicked"u8], end.ClientFrame);
        Assert.Equal((1012, SessionEnds.OperatorText), (fallback.ClientStatus, fallback.ClientText));
        Assert.Equal([0x88, (byte)(2 + SessionEnds.OperatorText.Length), 0x03, 0xF4, .. System.Text.Encoding.UTF8.GetBytes(SessionEnds.OperatorText)], fallback.ClientFrame);
        Assert.Equal((SessionCloseOrder.BackendFirstThenClient, 1001), (end.Order, end.BackendStatus));
        Assert.Same(SessionEnds.Operator, SessionEnds.Of(SessionCloseReason.Operator));
    }

    [Fact]
    public void BeginClose_BeforeAttachChannel_CarriedOutWhenTheChannelAttaches_Once()
    {
        var session = New();

        Assert.True(session.BeginClose(SessionCloseReason.Drain, Now, "ignored until attach"));
        Assert.Equal(SessionTier.Closing, session.Tier);
        Assert.Equal(Now + CloseTimeout(session), session.CloseDeadline);

        var channel = new RecordingChannel(session);
        session.AttachChannel(channel);

        Assert.Same(channel, session.Channel);
        var close = Assert.Single(channel.Closes);
        Assert.Same(SessionEnds.Drain, close.End);
        Assert.Null(close.Detail);

        // A close begun later is not a second one.
        Assert.False(session.BeginClose(SessionCloseReason.Pressure, Now + 1));
        Assert.Single(channel.Closes);
        Assert.Equal(SessionCloseReason.Drain, session.GatewayCloseReason);
    }

    [Fact]
    public void AttachChannel_NoCloseBegun_NothingClosed_LaterCloseGoesThroughIt()
    {
        var session = New();
        var channel = new RecordingChannel(session);

        session.AttachChannel(channel);

        Assert.Same(channel, session.Channel);
        Assert.Empty(channel.Closes);
        Assert.NotEqual(SessionTier.Closing, session.Tier);
        Assert.Equal(0, session.CloseDeadline);

        Assert.True(session.BeginClose(SessionCloseReason.IdleTimeout, Now));
        Assert.Same(SessionEnds.IdleTimeout, Assert.Single(channel.Closes).End);
    }

    [Fact]
    public void BeginClose_NeverPingsOrAborts()
    {
        // Aborting is the heartbeat's job once the deadline passes; beginning a close only asks for the handshake.
        var (session, channel) = Attached();

        session.BeginClose(SessionCloseReason.HeartbeatTimeout, Now, tickLength: 1);

        Assert.Equal(0, channel.Aborts);
        Assert.Equal(0, channel.Pings);
    }

    [Fact]
    public async Task BeginClose_RacingAttachChannel_TheChannelIsToldExactlyOnce()
    {
        // The drain or the heartbeat may begin a close on another thread while the relay attaches its channel (the
        // lean path's moment between 101 and relay). Whichever of the two comes second must carry the close out, and
        // only one of them may: a lost close leaves the session to be aborted at its deadline without a close frame.
        const int Sessions = 200_000;
        var sessions = new Session[Sessions];
        var channels = new RecordingChannel[Sessions];
        for (var i = 0; i < Sessions; i++)
        {
            sessions[i] = New();
            channels[i] = new RecordingChannel(sessions[i], concurrent: true);
        }

        using var start = new Barrier(2);
        var closer = Task.Factory.StartNew(
            () =>
            {
                for (var i = 0; i < Sessions; i++)
                {
                    start.SignalAndWait();
                    // A varying head start for either side sweeps the calls across each other.
                    Thread.SpinWait(i % 16);
                    sessions[i].BeginClose(SessionCloseReason.Drain, Now);
                }
            },
            TaskCreationOptions.LongRunning);
        var attacher = Task.Factory.StartNew(
            () =>
            {
                for (var i = 0; i < Sessions; i++)
                {
                    start.SignalAndWait();
                    Thread.SpinWait(i / 16 % 16);
                    sessions[i].AttachChannel(channels[i]);
                }
            },
            TaskCreationOptions.LongRunning);
        await Task.WhenAll(closer, attacher).WaitAsync(TimeSpan.FromSeconds(60));

        var lost = channels.Count(channel => channel.CloseCount == 0);
        var doubled = channels.Count(channel => channel.CloseCount > 1);
        Assert.True(lost == 0 && doubled == 0, $"of {Sessions} closes begun while the channel attached, {lost} never reached the channel and {doubled} reached it twice");
    }

    private (Session Session, RecordingChannel Channel) Attached()
    {
        var session = New();
        var channel = new RecordingChannel(session);
        session.AttachChannel(channel);
        return (session, channel);
    }

    private Session New() => new(1, TestServices.StartInfo(policy: TestServices.Policy(_time, closeTimeout: 5)), 0);

    private long CloseTimeout(Session session)
    {
        // The route's close timeout, 5 s in the manual clock's ticks: checked so that a deadline of "now + 0" cannot pass.
        Assert.Equal(5 * _time.TimestampFrequency, session.Policy.CloseTimeout);
        return session.Policy.CloseTimeout;
    }

    /// <summary>Records what the session asked of its relay, and what the session said of itself at that moment.</summary>
    private sealed class RecordingChannel(Session session, bool concurrent = false) : ISessionChannel
    {
        private int _closeCount;

        public List<(SessionEnd End, string? Detail, SessionCloseReason? ReasonSeen, long DeadlineSeen)> Closes { get; } = [];

        /// <summary>Calls of <see cref="Close"/>, counted safely when two threads may make them.</summary>
        public int CloseCount => Volatile.Read(ref _closeCount);

        public int Pings { get; private set; }

        public int Aborts { get; private set; }

        public bool SendPing(long timestamp)
        {
            Pings++;
            return true;
        }

        public void Close(SessionEnd end, string? detail)
        {
            Interlocked.Increment(ref _closeCount);
            if (!concurrent)
            {
                Closes.Add((end, detail, session.GatewayCloseReason, session.CloseDeadline));
            }
        }

        public void Abort() => Aborts++;
    }
}
