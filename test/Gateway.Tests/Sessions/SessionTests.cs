using Gateway.Sessions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Sessions;

public sealed class SessionTests
{
    [Fact]
    public void OnClientData_MaskedCloseSplitByteByByte_RecordsStatusAndClientAsInitiator()
    {
        var session = new Session(1, TestServices.StartInfo(), 0, DateTimeOffset.UnixEpoch);
        var close = WebSocketFrames.Close(4123, "going", mask: true);

        foreach (var b in close)
        {
            session.OnClientData([b], 10);
        }

        session.OnBackendData(WebSocketFrames.Close(1000), 11);

        Assert.Equal(SessionSide.Client, session.CloseInitiator);
        Assert.Equal(4123, session.ClientLeg.CloseStatusOrNull);
        Assert.Equal(1000, session.BackendLeg.CloseStatusOrNull);
    }

    [Fact]
    public void OnBackendData_CloseWithoutBody_Is1005AndBackendInitiates()
    {
        var session = new Session(1, TestServices.StartInfo(), 0, DateTimeOffset.UnixEpoch);
        session.OnBackendData(WebSocketFrames.Encode(WebSocketOpcode.Close, []), 5);
        session.OnClientData(WebSocketFrames.Close(1000, mask: true), 6);

        Assert.Equal(SessionSide.Backend, session.CloseInitiator);
        Assert.Equal(1005, session.BackendLeg.CloseStatusOrNull);
    }

    [Fact]
    public void OnClientData_CountsMessagesBytesAndActivity_NotControlFrames()
    {
        var session = new Session(1, TestServices.StartInfo(), 0, DateTimeOffset.UnixEpoch);
        byte[] data =
        [
            .. WebSocketFrames.Encode(WebSocketOpcode.Text, "frag1"u8, fin: false, mask: true),
            .. WebSocketFrames.Encode(WebSocketOpcode.Ping, "p"u8, mask: true),
            .. WebSocketFrames.Encode(WebSocketOpcode.Continuation, "frag2"u8, fin: true, mask: true),
            .. WebSocketFrames.Encode(WebSocketOpcode.Binary, new byte[70_000], mask: true),
        ];

        var completed = session.OnClientData(data, 777);

        Assert.Equal(2, completed);
        Assert.Equal(2, session.ClientMessages);
        Assert.Equal(data.Length, session.ClientBytes);
        Assert.Equal(777, session.LastClientActivityTimestamp);
        Assert.Equal(0, session.BackendBytes);
        Assert.Equal(SessionSide.None, session.CloseInitiator);
    }
}
