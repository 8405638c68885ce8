using Gateway.Sessions;
using Microsoft.Extensions.Primitives;

namespace Gateway.Tests.Sessions;

public sealed class WebSocketRequestTests
{
    [Theory]
    [InlineData("websocket")]
    [InlineData("WebSocket")]
    [InlineData("SPDY/3.1, websocket")]
    [InlineData("websocket, h2c")]
    [InlineData(" \twebsocket\t ")]
    [InlineData("h2c,,websocket")]
    public void ListsWebSocket_TheTokenAnywhereInTheList(string upgrade)
        => Assert.True(WebSocketRequest.ListsWebSocket(upgrade));

    [Theory]
    [InlineData("")]
    [InlineData("SPDY/3.1")]
    [InlineData("websocketx")]
    [InlineData("web socket")]
    [InlineData("websocket/13")]
    [InlineData("h2c, TLS/1.2")]
    public void ListsWebSocket_NotWithoutTheExactToken(string upgrade)
        => Assert.False(WebSocketRequest.ListsWebSocket(upgrade));

    [Fact]
    public void ListsWebSocket_InAnyLineOfAHeaderSentTwice()
    {
        Assert.True(WebSocketRequest.ListsWebSocket(new StringValues(["SPDY/3.1", "websocket"])));
        Assert.False(WebSocketRequest.IsOnlyWebSocket(new StringValues(["SPDY/3.1", "websocket"])));
        Assert.True(WebSocketRequest.IsOnlyWebSocket("WebSocket"));
        Assert.False(WebSocketRequest.IsOnlyWebSocket("websocket, h2c"));
    }
}
