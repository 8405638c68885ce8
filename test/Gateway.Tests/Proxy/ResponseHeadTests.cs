using System.Net;
using System.Text;
using Gateway.Proxy;

namespace Gateway.Tests.Proxy;

/// <summary>
/// The lean connector's parser of a backend's answer head: what it accepts must come out as HttpClient would have
/// made it (status, reason, version, headers where YARP looks for them), and anything that is not strict HTTP/1.x
/// must fail as an invalid response, so the breaker counts a broken handshake instead of a half-understood one.
/// </summary>
public sealed class ResponseHeadTests
{
    [Fact]
    public void FindEnd_CompleteHead_IndexJustPastTheBlankLine()
    {
        // Bytes after the head (the session's first frame) must not be counted as head.
        var data = Bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nEARLY");

        var end = ResponseHead.FindEnd(data);

        Assert.Equal(data.Length - "EARLY".Length, end);
    }

    [Theory]
    [InlineData("")]
    [InlineData("HTTP/1.1 101 Switching Protocols")]
    [InlineData("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")]
    [InlineData("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r")]
    [InlineData("HTTP/1.1 101 Switching Protocols\n\n")]
    public void FindEnd_HeadNotAllArrived_MinusOne(string data)
    {
        Assert.Equal(-1, ResponseHead.FindEnd(Bytes(data)));
    }

    [Fact]
    public void Parse_Http11StatusLine_StatusReasonAndVersion()
    {
        using var response = Parse("HTTP/1.1 101 Switching Protocols\r\n\r\n");

        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        Assert.Equal("Switching Protocols", response.ReasonPhrase);
        Assert.Equal(HttpVersion.Version11, response.Version);
    }

    [Fact]
    public void Parse_Http10StatusLine_Version10()
    {
        using var response = Parse("HTTP/1.0 403 Forbidden\r\n\r\n");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("Forbidden", response.ReasonPhrase);
        Assert.Equal(HttpVersion.Version10, response.Version);
    }

    [Theory]
    [InlineData("HTTP/1.1 503 Service Unavailable Right Now", 503, "Service Unavailable Right Now")]
    [InlineData("HTTP/1.1 404 ", 404, "")]
    [InlineData("HTTP/1.1 404", 404, "")]
    [InlineData("HTTP/1.1 100 Continue", 100, "Continue")]
    [InlineData("HTTP/1.1 999 Custom", 999, "Custom")]
    public void Parse_StatusLine_ThreeDigitStatus_ReasonMayBeEmptyOrMissing(string statusLine, int status, string reason)
    {
        // Some servers send no reason, some not even the space before it; both are valid answers.
        using var response = Parse(statusLine + "\r\n\r\n");

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(reason, response.ReasonPhrase);
    }

    [Fact]
    public void Parse_Headers_ResponseHeadersAndContentHeadersEachInTheirCollection()
    {
        // YARP copies response.Headers and response.Content.Headers separately: a content header in the wrong
        // collection would be lost or rejected on the way to the client.
        using var response = Parse(
            "HTTP/1.1 101 Switching Protocols\r\n" +
            "Upgrade: websocket\r\n" +
            "Connection: Upgrade\r\n" +
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
            "Content-Type: text/plain\r\n" +
            "Content-Length: 12\r\n" +
            "X-Backend: b1\r\n" +
            "\r\n");

        Assert.Equal(["websocket"], response.Headers.GetValues("Upgrade"));
        Assert.Equal(["Upgrade"], response.Headers.GetValues("Connection"));
        Assert.Equal(["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="], response.Headers.GetValues("Sec-WebSocket-Accept"));
        Assert.Equal(["b1"], response.Headers.GetValues("X-Backend"));
        Assert.Equal(["text/plain"], response.Content.Headers.GetValues("Content-Type"));
        Assert.Equal(["12"], response.Content.Headers.GetValues("Content-Length"));
        Assert.False(response.Headers.NonValidated.Contains("Content-Type"));
        Assert.False(response.Headers.NonValidated.Contains("Content-Length"));
        Assert.False(response.Content.Headers.NonValidated.Contains("X-Backend"));
    }

    [Fact]
    public void Parse_DuplicateHeaders_EveryValueKeptInOrder()
    {
        using var response = Parse(
            "HTTP/1.1 403 Forbidden\r\n" +
            "Set-Cookie: a=1\r\n" +
            "X-Trace: first\r\n" +
            "Set-Cookie: b=2\r\n" +
            "X-Trace: second\r\n" +
            "\r\n");

        Assert.Equal(["a=1", "b=2"], response.Headers.GetValues("Set-Cookie"));
        Assert.Equal(["first", "second"], response.Headers.NonValidated["X-Trace"]);
    }

    [Theory]
    [InlineData("X-Pad:value")]
    [InlineData("X-Pad: value")]
    [InlineData("X-Pad:   value   ")]
    [InlineData("X-Pad:\t value \t")]
    public void Parse_HeaderValue_WhitespaceAroundItTrimmed(string line)
    {
        using var response = Parse("HTTP/1.1 200 OK\r\n" + line + "\r\n\r\n");

        Assert.Equal(["value"], response.Headers.NonValidated["X-Pad"]);
    }

    [Fact]
    public void Parse_HeaderValue_InnerWhitespaceKept()
    {
        using var response = Parse("HTTP/1.1 200 OK\r\nX-Words:  two  words \r\n\r\n");

        Assert.Equal(["two  words"], response.Headers.NonValidated["X-Words"]);
    }

    [Fact]
    public void Parse_HeaderValue_DecodedWithTheGivenEncoding()
    {
        // The cluster's ResponseHeaderEncoding: the same bytes read as UTF-8 or as Latin-1 are different text.
        var head = Encoding.UTF8.GetBytes("HTTP/1.1 200 OK\r\nX-Name: café\r\n\r\n");
        using var utf8 = new HttpResponseMessage();
        using var latin1 = new HttpResponseMessage();

        ResponseHead.Parse(head, utf8, Encoding.UTF8);
        ResponseHead.Parse(head, latin1, Encoding.Latin1);

        Assert.Equal(["café"], utf8.Headers.NonValidated["X-Name"]);
        Assert.Equal(["cafÃ©"], latin1.Headers.NonValidated["X-Name"]);
    }

    [Fact]
    public void Parse_HeaderValueNotValidInAStrictEncoding_InvalidResponse()
    {
        var head = Bytes("HTTP/1.1 200 OK\r\nX-Name: caf\u00e9\r\n\r\n"); // a lone 0xE9: not UTF-8
        using var response = new HttpResponseMessage();

        var exception = Assert.Throws<HttpRequestException>(() => ResponseHead.Parse(head, response, new UTF8Encoding(false, throwOnInvalidBytes: true)));

        Assert.Equal(HttpRequestError.InvalidResponse, exception.HttpRequestError);
        Assert.IsType<DecoderFallbackException>(exception.InnerException);
    }

    [Theory]
    // Not HTTP/1.x at all.
    [InlineData("HTTP/2.0 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.2 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1  200 OK\r\n\r\n")]
    [InlineData("http/1.1 200 OK\r\n\r\n")]
    [InlineData("SSH-2.0-OpenSSH_9.6\r\n\r\n")]
    [InlineData("\r\n\r\n")]
    // A status that is not three digits.
    [InlineData("HTTP/1.1 2x0 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 20 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 2000 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 -20 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 200OK\r\n\r\n")]
    // Below 100.
    [InlineData("HTTP/1.1 099 Low\r\n\r\n")]
    [InlineData("HTTP/1.1 000\r\n\r\n")]
    // Obsolete line folding, by space and by tab.
    [InlineData("HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX-A: one\r\n\ttwo\r\n\r\n")]
    // No colon, or no name before it.
    [InlineData("HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\n: value\r\n\r\n")]
    // Something other than a token before the colon.
    [InlineData("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX-A : x\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX(y): x\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX-\u00c4: x\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX/A: x\r\n\r\n")]
    // A control character left in a value.
    [InlineData("HTTP/1.1 200 OK\r\nX-A: one\rtwo\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX-A: one\ntwo\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX-A: one\0two\r\n\r\n")]
    public void Parse_NotStrictHttp1_InvalidResponse(string head)
    {
        using var response = new HttpResponseMessage();

        var exception = Assert.Throws<HttpRequestException>(() => ResponseHead.Parse(Bytes(head), response, Encoding.Latin1));

        Assert.Equal(HttpRequestError.InvalidResponse, exception.HttpRequestError);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX-A: one\r\n\tX-B: two\r\n\r\n")]
    public void Parse_FoldedHeaderLine_InvalidResponse_NamedAsFolding(string head)
    {
        // A folded line would also fail the name check; the message says what the backend really did, for the log.
        using var response = new HttpResponseMessage();

        var exception = Assert.Throws<HttpRequestException>(() => ResponseHead.Parse(Bytes(head), response, Encoding.Latin1));

        Assert.Equal(HttpRequestError.InvalidResponse, exception.HttpRequestError);
        Assert.Contains("folded", exception.Message, StringComparison.Ordinal);
    }

    private static HttpResponseMessage Parse(string head)
    {
        var response = new HttpResponseMessage();
        ResponseHead.Parse(Bytes(head), response, Encoding.Latin1);
        return response;
    }

    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);
}
