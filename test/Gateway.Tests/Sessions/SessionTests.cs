using Gateway.Frames;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Sessions;

public sealed class SessionTests
{
    [Fact]
    public void RecordClose_FirstSideToCloseIsTheInitiator_StatusesKept()
    {
        var session = New();
        session.RecordClientClose(4123);
        session.RecordBackendClose(1000);
        session.RecordClientClose(1001);

        Assert.Equal(SessionSide.Client, session.CloseInitiator);
        Assert.Equal(4123, session.ClientCloseStatus);
        Assert.Equal(1000, session.BackendCloseStatus);
    }

    [Fact]
    public void RecordInbound_CountsMessagesAndActivity_ControlFramesAreActivityOnly()
    {
        var session = New();
        session.RecordInbound(10, new ClientFilterResult { Length = 10, Frames = 1 }, 500);
        Assert.Equal(500, session.LastInboundTimestamp);
        Assert.Equal(0, session.LastMessageTimestamp);
        Assert.Equal(0, session.ClientMessages);

        session.RecordInbound(30, new ClientFilterResult { Length = 30, Frames = 2, Messages = 2 }, 777);
        Assert.Equal(2, session.ClientMessages);
        Assert.Equal(40, session.ClientBytes);
        Assert.Equal(777, session.LastMessageTimestamp);
    }

    [Fact]
    public void RecordInbound_PongToOurPing_MeasuresTheRoundTrip_AndAnswersTheProbe()
    {
        var session = New();
        session.RecordPingSent(1_000);
        Assert.True(session.PingOutstanding);

        session.RecordInbound(18, new ClientFilterResult { Frames = 1, PongTimestamp = 1_000 }, 1_250);

        Assert.False(session.PingOutstanding);
        Assert.Equal(250, session.RoundTripTicks);
        Assert.Equal(1_250, session.LastPongTimestamp);
    }

    [Fact]
    public void TryBeginGatewayClose_OnlyTheFirstCloseCounts()
    {
        var session = New();
        Assert.True(session.TryBeginGatewayClose(SessionCloseReason.HeartbeatTimeout, 99));
        Assert.False(session.TryBeginGatewayClose(SessionCloseReason.Pressure, 5));
        Assert.Equal(SessionCloseReason.HeartbeatTimeout, session.GatewayCloseReason);
        Assert.Equal(99, session.CloseDeadline);
    }

    [Fact]
    public void TryEnd_OnlyOnce_KeepsTheFirstReason_AndClientGoneIsIndependent()
    {
        var session = New();
        session.MarkClientGone();
        Assert.Null(session.EndReason);
        Assert.True(session.TryEnd(SessionCloseReason.BackendLost));
        Assert.False(session.TryEnd(SessionCloseReason.ClientClose));
        Assert.True(session.ClientGone);
        Assert.True(session.HasEnded);
        Assert.Equal(SessionCloseReason.BackendLost, session.EndReason);
    }

    private static Session New() => new(1, TestServices.StartInfo(), 0);
}
