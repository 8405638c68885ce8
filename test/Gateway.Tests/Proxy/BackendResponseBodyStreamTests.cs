using System.IO.Pipelines;
using System.Text;
using Gateway.Proxy;

namespace Gateway.Tests.Proxy;

/// <summary>
/// The body of a refused upgrade (a 403, a 500 with a page), as the lean connector hands it to YARP: the bytes that
/// came with the head first, then the connection's, delimited as the head said, chunked coding decoded; a body that
/// ends early is an error, not a short page passed on as if whole.
/// </summary>
public sealed class BackendResponseBodyStreamTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(64)]
    public async Task ContentLength_BodySplitBetweenLeftoverAndConnection_ReadWhole_AndNotOneBytePast(int bufferSize)
    {
        // The leftover buffer holds the head too; only [start, end) is body. The connection has bytes past the
        // body that must stay unread (they are not this response's).
        var leftover = Bytes("HEAD-BYTESHello");
        var connection = new MemoryStream(Bytes(", world!NOT-BODY"));
        using var body = new BackendResponseBodyStream(connection, leftover, 10, leftover.Length, contentLength: 13, chunked: false);

        var read = await ReadAllAsync(body, bufferSize);

        Assert.Equal("Hello, world!", Text(read));
        Assert.Equal(", world!".Length, connection.Position);
    }

    [Fact]
    public async Task ContentLength_WholeBodyInTheLeftover_ConnectionNotRead()
    {
        var leftover = Bytes("HEADbody");
        var connection = new MemoryStream(Bytes("NEXT"));
        using var body = new BackendResponseBodyStream(connection, leftover, 4, leftover.Length, contentLength: 4, chunked: false);

        Assert.Equal("body", Text(await ReadAllAsync(body, bufferSize: 64)));
        Assert.Equal(0, connection.Position);
    }

    [Fact]
    public async Task ContentLengthZero_NoBody_ConnectionNotRead()
    {
        var connection = new MemoryStream(Bytes("NEXT"));
        using var body = new BackendResponseBodyStream(connection, [], 0, 0, contentLength: 0, chunked: false);

        Assert.Empty(await ReadAllAsync(body, bufferSize: 64));
        Assert.Equal(0, connection.Position);
    }

    [Fact]
    public async Task ContentLength_ConnectionEndsBeforeTheBodyIsComplete_ResponseEnded()
    {
        var leftover = Bytes("abc");
        using var body = new BackendResponseBodyStream(new MemoryStream(Bytes("de")), leftover, 0, leftover.Length, contentLength: 10, chunked: false);

        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => ReadAllAsync(body, bufferSize: 64));

        Assert.Equal(HttpRequestError.ResponseEnded, exception.HttpRequestError);
    }

    [Fact]
    public async Task UntilClose_EverythingUntilTheConnectionEnds()
    {
        var leftover = Bytes("HEADabc");
        using var body = new BackendResponseBodyStream(new MemoryStream(Bytes("defghij")), leftover, 4, leftover.Length, contentLength: -1, chunked: false);

        Assert.Equal("abcdefghij", Text(await ReadAllAsync(body, bufferSize: 3)));
    }

    [Fact]
    public async Task Chunked_ExtensionsAndTrailers_DecodedBodyOnly_ConnectionReadUpToTheEnd()
    {
        // The leftover ends inside the second chunk's size line ("5" here, "\r\n" from the connection).
        var leftover = Bytes("HEAD4;name=value\r\nWiki\r\n5");
        var connection = new MemoryStream(Bytes("\r\npedia\r\nE ; a=1;b=\"x\"\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-Trailer: yes\r\n\r\nNEXT"));
        using var body = new BackendResponseBodyStream(connection, leftover, 4, leftover.Length, contentLength: -1, chunked: true);

        var read = await ReadAllAsync(body, bufferSize: 64);

        Assert.Equal("Wikipedia in\r\n\r\nchunks.", Text(read));
        // The trailers were consumed, and nothing after them.
        Assert.Equal(connection.Length - "NEXT".Length, connection.Position);
    }

    [Fact]
    public async Task Chunked_HexSizes_UpperAndLowerCase()
    {
        var payload = new string('x', 0x1a) + new string('y', 0x1F);
        var leftover = Bytes("1a\r\n" + payload[..0x1a] + "\r\n1F\r\n" + payload[0x1a..] + "\r\n0\r\n\r\n");
        using var body = new BackendResponseBodyStream(new MemoryStream(), leftover, 0, leftover.Length, contentLength: -1, chunked: true);

        Assert.Equal(payload, Text(await ReadAllAsync(body, bufferSize: 7)));
    }

    [Fact]
    public async Task Chunked_ChunkArrivesInPieces_ReadWaitsForTheRest_InsteadOfEnding()
    {
        var pipe = new Pipe();
        using var body = new BackendResponseBodyStream(pipe.Reader.AsStream(), [], 0, 0, contentLength: -1, chunked: true);
        var buffer = new byte[16];

        await pipe.Writer.WriteAsync(Bytes("5\r\nHel"));
        var first = await body.ReadAsync(buffer);
        Assert.Equal("Hel", Text(buffer[..first]));

        var second = body.ReadAsync(buffer).AsTask();
        await Task.Delay(50);
        Assert.False(second.IsCompleted, "two bytes of the chunk are still to come");

        await pipe.Writer.WriteAsync(Bytes("lo\r\n3\r\n, w\r\n0\r\n\r\n"));
        Assert.Equal("lo", Text(buffer[..await second]));
        Assert.Equal(", w", Text(buffer[..await body.ReadAsync(buffer)]));
        Assert.Equal(0, await body.ReadAsync(buffer));
        await pipe.Writer.CompleteAsync();
    }

    [Fact]
    public async Task Chunked_ConnectionEndsInsideAChunk_ResponseEnded()
    {
        var leftover = Bytes("5\r\nab");
        using var body = new BackendResponseBodyStream(new MemoryStream(), leftover, 0, leftover.Length, contentLength: -1, chunked: true);

        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => ReadAllAsync(body, bufferSize: 64));

        Assert.Equal(HttpRequestError.ResponseEnded, exception.HttpRequestError);
    }

    [Fact]
    public async Task Chunked_ConnectionEndsBeforeTheLastChunk_ResponseEnded()
    {
        // A whole chunk, then the connection closes: without the 0-size chunk the body is not known to be complete.
        var leftover = Bytes("5\r\nabcde\r\n");
        using var body = new BackendResponseBodyStream(new MemoryStream(), leftover, 0, leftover.Length, contentLength: -1, chunked: true);

        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => ReadAllAsync(body, bufferSize: 64));

        Assert.Equal(HttpRequestError.ResponseEnded, exception.HttpRequestError);
    }

    [Theory]
    [InlineData("zz\r\n")]
    [InlineData("-5\r\nabcde\r\n0\r\n\r\n")]
    [InlineData("+5\r\nabcde\r\n0\r\n\r\n")]
    [InlineData("0x5\r\nabcde\r\n0\r\n\r\n")]
    [InlineData("\r\nabcde\r\n0\r\n\r\n")]
    [InlineData("FFFFFFFFFFFFFFFF\r\nabcde\r\n0\r\n\r\n")]
    [InlineData("10000000000000000\r\nabcde\r\n0\r\n\r\n")]
    public async Task Chunked_InvalidChunkSize_InvalidResponse(string wire)
    {
        var leftover = Bytes(wire);
        using var body = new BackendResponseBodyStream(new MemoryStream(), leftover, 0, leftover.Length, contentLength: -1, chunked: true);

        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => ReadAllAsync(body, bufferSize: 64));

        Assert.Equal(HttpRequestError.InvalidResponse, exception.HttpRequestError);
    }

    [Fact]
    public async Task Chunked_DataPastTheChunkSize_InvalidResponse()
    {
        var leftover = Bytes("3\r\nabcX\r\n0\r\n\r\n");
        using var body = new BackendResponseBodyStream(new MemoryStream(), leftover, 0, leftover.Length, contentLength: -1, chunked: true);

        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => ReadAllAsync(body, bufferSize: 64));

        Assert.Equal(HttpRequestError.InvalidResponse, exception.HttpRequestError);
    }

    [Fact]
    public void Dispose_DisposesTheConnection()
    {
        // The stream owns the backend connection: disposing the response must close it, or it leaks.
        var connection = new MemoryStream(Bytes("body"));
        var body = new BackendResponseBodyStream(connection, [], 0, 0, contentLength: 4, chunked: false);

        body.Dispose();

        Assert.False(connection.CanRead, "the connection was disposed");
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("12345", 12345L)]
    [InlineData(" 42 ", 42L)]
    public void TryParseLength_Digits_Parsed(string value, long expected)
    {
        Assert.True(BackendResponseBodyStream.TryParseLength(value, out var length));
        Assert.Equal(expected, length);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1")]
    [InlineData("12 3")]
    [InlineData("0x10")]
    [InlineData("1e3")]
    [InlineData("5, 5")]
    public void TryParseLength_NotJustDigits_Rejected(string value)
    {
        Assert.False(BackendResponseBodyStream.TryParseLength(value, out _));
    }

    [Theory]
    [InlineData("+5")]
    [InlineData("-0")]
    public void TryParseLength_SignedNumber_Rejected(string value)
    {
        // RFC 9110 8.6: Content-Length = 1*DIGIT; HttpClient rejects a sign, so the lean path must too (its doc: "digits only").
        Assert.False(BackendResponseBodyStream.TryParseLength(value, out _));
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream, int bufferSize)
    {
        var all = new MemoryStream();
        var buffer = new byte[bufferSize];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            all.Write(buffer, 0, read);
        }

        return all.ToArray();
    }

    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    private static string Text(byte[] bytes) => Encoding.Latin1.GetString(bytes);
}
