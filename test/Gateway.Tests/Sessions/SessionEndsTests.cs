using System.Buffers.Binary;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Gateway.Frames;
using Gateway.Sessions;

namespace Gateway.Tests.Sessions;

/// <summary>
/// The session-end table: one row per way a session ends, and the only place close codes and reasons are chosen.
/// Its tags are the <c>reason</c> label of metrics and logs (dashboards and alerts query them), and its frames go on
/// the wire as they are, so both are checked here against the rules they must follow.
/// </summary>
public sealed partial class SessionEndsTests
{
    /// <summary>Every row of the table by its field name, including rows <see cref="SessionEnds.Of"/> does not return.</summary>
    public static TheoryData<string> Rows => [.. RowFields().Select(row => row.Name)];

    /// <summary>Every <see cref="SessionCloseReason"/> by name (the enum is internal; a public theory cannot take it).</summary>
    public static TheoryData<string> Reasons => [.. Enum.GetNames<SessionCloseReason>()];

    [Theory]
    [MemberData(nameof(Reasons))]
    public void Of_EveryReason_HasARowOfThatReason(string name)
    {
        var reason = Enum.Parse<SessionCloseReason>(name);
        var row = SessionEnds.Of(reason);

        Assert.NotNull(row);
        Assert.Equal(reason, row.Reason);
    }

    [Fact]
    public void Of_Tags_UniqueAcrossReasons_AndSnakeCase()
    {
        var tags = Enum.GetValues<SessionCloseReason>().Select(reason => SessionEnds.Of(reason).Tag).ToList();

        Assert.Equal(tags.Count, tags.Distinct(StringComparer.Ordinal).Count());
        Assert.All(tags, tag => Assert.Matches(SnakeCase(), tag));
    }

    [Theory]
    [InlineData(nameof(SessionCloseReason.ClientClose), "client_close")]
    [InlineData(nameof(SessionCloseReason.BackendClose), "backend_close")]
    [InlineData(nameof(SessionCloseReason.IdleTimeout), "idle_timeout")]
    [InlineData(nameof(SessionCloseReason.ClientLost), "client_lost")]
    [InlineData(nameof(SessionCloseReason.BackendLost), "backend_lost")]
    [InlineData(nameof(SessionCloseReason.HeartbeatTimeout), "heartbeat_timeout")]
    [InlineData(nameof(SessionCloseReason.Pressure), "pressure")]
    [InlineData(nameof(SessionCloseReason.ProtocolError), "protocol_error")]
    [InlineData(nameof(SessionCloseReason.MessageTooBig), "message_too_big")]
    [InlineData(nameof(SessionCloseReason.Drain), "drain")]
    public void ToTagValue_IsTheRowsTag_AndKeepsItsPublishedName(string name, string tag)
    {
        var reason = Enum.Parse<SessionCloseReason>(name);
        // The tag is a metric label value: renaming one breaks every dashboard and alert that selects it.
        Assert.Equal(SessionEnds.Of(reason).Tag, reason.ToTagValue());
        Assert.Equal(tag, reason.ToTagValue());
    }

    [Fact]
    public void BackendRestarting_CountedAsBackendLost_ButOfGivesThe1011Row()
    {
        // A restart is a backend lost to the metrics; only the client's close code says it may reconnect at once.
        Assert.Equal(SessionCloseReason.BackendLost, SessionEnds.BackendRestarting.Reason);
        Assert.Equal(SessionEnds.BackendLost.Tag, SessionEnds.BackendRestarting.Tag);
        Assert.Same(SessionEnds.BackendLost, SessionEnds.Of(SessionCloseReason.BackendLost));
        Assert.Equal(CloseFrame.InternalError, SessionEnds.BackendLost.ClientStatus);
        Assert.Equal(CloseFrame.ServiceRestart, SessionEnds.BackendRestarting.ClientStatus);
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void ClientFrame_DecodesToTheRowsClientStatusAndText(string name)
    {
        var row = Row(name);

        if (row.ClientStatus == 0)
        {
            Assert.Empty(row.ClientFrame);
            return;
        }

        var (status, text) = DecodeClientClose(row.ClientFrame);
        Assert.Equal(row.ClientStatus, status);
        Assert.Equal(row.ClientText, text);
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Order_SaysWhoIsTold_AndThoseSidesHaveAStatus(string name)
    {
        var row = Row(name);

        switch (row.Order)
        {
            case SessionCloseOrder.Peers:
                // The peers' own close frames are relayed: the gateway has nothing of its own to send.
                Assert.Equal(0, row.ClientStatus);
                Assert.Equal(0, row.BackendStatus);
                Assert.Empty(row.ClientFrame);
                break;
            case SessionCloseOrder.Both:
            case SessionCloseOrder.BackendFirst:
            case SessionCloseOrder.BackendThenClient:
            case SessionCloseOrder.BackendFirstThenClient:
                Assert.NotEqual(0, row.ClientStatus);
                Assert.NotEqual(0, row.BackendStatus);
                break;
            case SessionCloseOrder.BackendOnly:
                Assert.NotEqual(0, row.BackendStatus);
                Assert.Equal(0, row.ClientStatus);
                Assert.Empty(row.ClientFrame);
                break;
            case SessionCloseOrder.ClientOnly:
                Assert.NotEqual(0, row.ClientStatus);
                Assert.NotEmpty(row.ClientFrame);
                break;
            default:
                Assert.Fail($"{name}: an order this test does not know: {row.Order}");
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Statuses_AreCodesAnEndpointMaySend(string name)
    {
        // 1005, 1006 and 1015 are only reported locally: a peer that receives one must fail the connection.
        var row = Row(name);

        Assert.True(row.ClientStatus == 0 || CloseFrame.IsSendable(row.ClientStatus), $"client status {row.ClientStatus}");
        Assert.True(row.BackendStatus == 0 || CloseFrame.IsSendable(row.BackendStatus), $"backend status {row.BackendStatus}");
    }

    [Fact]
    public void Rows_EveryReasonHasAFieldRow_AndEveryFieldRowIsReachableByItsReason()
    {
        // Guards the table's construction: a row added as a field but left out of the lookup (or the reverse).
        var fieldRows = RowFields().Select(field => (SessionEnd)field.GetValue(null)!).ToList();

        foreach (var reason in Enum.GetValues<SessionCloseReason>())
        {
            Assert.Contains(SessionEnds.Of(reason), fieldRows);
        }

        Assert.All(fieldRows, row => Assert.Equal(row.Tag, SessionEnds.Of(row.Reason).Tag));
    }

    private static IEnumerable<FieldInfo> RowFields()
        => typeof(SessionEnds).GetFields(BindingFlags.Public | BindingFlags.Static).Where(field => field.FieldType == typeof(SessionEnd));

    private static SessionEnd Row(string name) => (SessionEnd)typeof(SessionEnds).GetField(name, BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;

    /// <summary>Decodes a close frame sent to a client (RFC 6455 5.2 and 5.5.1), independently of the encoder.</summary>
    private static (int Status, string Text) DecodeClientClose(byte[] frame)
    {
        Assert.Equal(0x88, frame[0]); // FIN, opcode 8 (close)
        Assert.Equal(0, frame[1] & 0x80); // frames to a client are never masked
        var length = frame[1] & 0x7F;
        Assert.InRange(length, 2, 125); // a control frame's payload, with a status
        Assert.Equal(2 + length, frame.Length);
        var status = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(2, 2));
        var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(frame, 4, length - 2);
        return (status, text);
    }

    [GeneratedRegex("^[a-z]+(_[a-z]+)*$")]
    private static partial Regex SnakeCase();
}
