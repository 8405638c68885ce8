using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Gateway.Hosting;
using Gateway.Proxy;
using Gateway.Relay;
using Gateway.Resilience;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Tests.Proxy;

/// <summary>
/// The lean path's backend connector against a real backend socket (a loopback listener that reads the request
/// head and answers with bytes the test chooses): what it sends, what it makes of each answer, and how it fails,
/// in the exception types YARP and the breakers classify.
/// </summary>
public sealed class Http11UpgradeClientTests : IDisposable
{
    private const string SwitchingProtocols = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly TcpListener _backend = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _timeout = new(Patience);

    public Http11UpgradeClientTests()
    {
        _backend.Start();
    }

    private int Port => ((IPEndPoint)_backend.LocalEndpoint).Port;

    public void Dispose()
    {
        _backend.Dispose();
        _timeout.Dispose();
    }

    [Fact]
    public async Task SendAsync_RequestHead_RequestLineHostAndEveryHeaderInOrder_EndsWithABlankLine()
    {
        using var request = Request("/chat/room?x=1&y=%20z");
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", "13");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Protocol", ["chat", "superchat"]);
        request.Headers.TryAddWithoutValidation("Cookie", ["a=1", "b=2"]);
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", "10.0.0.1");

        var head = await SendAndAnswerAsync(request, SwitchingProtocols);

        Assert.Equal(
            "GET /chat/room?x=1&y=%20z HTTP/1.1\r\n" +
            $"Host: 127.0.0.1:{Port}\r\n" +
            "Connection: Upgrade\r\n" +
            "Upgrade: websocket\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
            "Sec-WebSocket-Version: 13\r\n" +
            "Sec-WebSocket-Protocol: chat, superchat\r\n" +
            // RFC 6265 5.4: cookies are joined with "; ", not with a comma.
            "Cookie: a=1; b=2\r\n" +
            "X-Forwarded-For: 10.0.0.1\r\n" +
            "\r\n",
            head);
    }

    [Fact]
    public async Task SendAsync_HostHeaderSet_ThatHostIsSent_Once_AndFirst()
    {
        // YARP sets the Host header when the route keeps the client's host (or a transform sets one).
        using var request = Request("/");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.Host = "chat.example.com";

        var head = await SendAndAnswerAsync(request, SwitchingProtocols);

        Assert.Equal("GET / HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\n\r\n", head);
    }

    [Fact]
    public async Task SendAsync_101WithoutEarlyBytes_UpgradedContent_ConnectionWithoutEarly_StreamEmpty()
    {
        using var request = Request("/");
        var send = Client().SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        await WriteAsync(backend, SwitchingProtocols);

        using var response = await send.WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        Assert.Equal(["websocket"], response.Headers.GetValues("Upgrade"));
        var content = Assert.IsType<UpgradedBackendContent>(response.Content);
        using (var stream = await content.ReadAsStreamAsync())
        {
            // YARP copies this "body" to the client: it must end at once, without touching the connection.
            Assert.Equal(0, await stream.ReadAsync(new byte[16]));
        }

        using var connection = content.Take();
        Assert.NotNull(connection);
        Assert.Null(connection.Early);
        Assert.Null(content.Take());
        await AssertConnectedAsync(connection, backend);
    }

    [Fact]
    public async Task SendAsync_101WithEarlyBytesInTheSameWrite_EarlyIsExactlyThoseBytes()
    {
        // The backend's first frame sent together with its 101: a text frame "hi", then the start of another.
        byte[] frames = [0x81, 0x02, (byte)'h', (byte)'i', 0x82, 0x7E];
        using var request = Request("/");
        var send = Client().SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        await backend.GetStream().WriteAsync(Bytes(SwitchingProtocols).Concat(frames).ToArray(), _timeout.Token);

        using var response = await send.WaitAsync(Patience);

        var content = Assert.IsType<UpgradedBackendContent>(response.Content);
        using var connection = content.Take();
        Assert.NotNull(connection);
        Assert.Equal(frames, connection.Early);
        // The early bytes are not read again from the transport: what comes next is what the backend sends next.
        await AssertConnectedAsync(connection, backend);
    }

    [Fact]
    public async Task SendAsync_100ContinueThen101_InTheSameWrite_The101WithItsEarlyBytes()
    {
        using var request = Request("/");
        var send = Client().SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        await WriteAsync(backend, "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n" + SwitchingProtocols + "EARLY");

        using var response = await send.WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        Assert.False(response.Headers.Contains("X-Interim"), "the interim answer's headers are not the upgrade's");
        using var connection = Assert.IsType<UpgradedBackendContent>(response.Content).Take();
        Assert.NotNull(connection);
        Assert.Equal(Bytes("EARLY"), connection.Early);
    }

    [Fact]
    public async Task SendAsync_EarlyHintsThen101_InSeparateWrites_The101()
    {
        using var request = Request("/");
        var send = Client().SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        await WriteAsync(backend, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n");
        await Task.Delay(50);
        await WriteAsync(backend, SwitchingProtocols);

        using var response = await send.WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        Assert.False(response.Headers.Contains("Link"));
        using var connection = Assert.IsType<UpgradedBackendContent>(response.Content).Take();
        Assert.NotNull(connection);
        Assert.Null(connection.Early);
    }

    [Fact]
    public async Task SendAsync_403WithAChunkedBody_StatusHeadersAndTheDecodedBody()
    {
        using var request = Request("/");
        var send = Client().SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        // The first chunk arrives with the head, the rest later: the body is read from both.
        await WriteAsync(backend, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\nX-Reason: policy\r\n\r\n7\r\nNot for\r\n");

        using var response = await send.WaitAsync(Patience);
        await WriteAsync(backend, "C;ext=1\r\n you, sorry.\r\n0\r\nX-Trailer: t\r\n\r\n");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("Forbidden", response.ReasonPhrase);
        Assert.Equal(["policy"], response.Headers.GetValues("X-Reason"));
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        // Decoded: the client's side frames the body anew, so the response must not claim chunked coding.
        Assert.NotEqual(true, response.Headers.TransferEncodingChunked);
        // The backend keeps its connection open: the body ends at the last chunk, not at the connection's end.
        Assert.Equal("Not for you, sorry.", await response.Content.ReadAsStringAsync(_timeout.Token).WaitAsync(Patience));
    }

    [Fact]
    public async Task SendAsync_404WithContentLength_BodyEndsAtTheLength_WhileTheConnectionStaysOpen()
    {
        using var request = Request("/");
        var send = Client().SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        await WriteAsync(backend, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");

        using var response = await send.WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(9, response.Content.Headers.ContentLength);
        Assert.Equal("not found", await response.Content.ReadAsStringAsync(_timeout.Token).WaitAsync(Patience));
    }

    [Fact]
    public async Task SendAsync_NothingListens_ConnectionErrorWithRefused_ClassifiedConnectRefused()
    {
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Dispose();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/");

        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => Client().SendAsync(request, _timeout.Token).WaitAsync(Patience));

        Assert.Equal(HttpRequestError.ConnectionError, exception.HttpRequestError);
        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(exception.InnerException).SocketErrorCode);
        // Nothing reached the backend: the breaker may try the upgrade on another destination.
        Assert.Equal(BackendFailure.ConnectRefused, BackendFailures.Classify(ForwarderError.Request, exception, 502));
    }

    [Fact]
    public async Task SendAsync_BackendClosesBeforeAnswering_ResponseEnded_ClassifiedHandshakeError()
    {
        using var request = Request("/");
        var send = Client().SendAsync(request, _timeout.Token);
        using (var backend = await AcceptAsync())
        {
            await ReadHeadAsync(backend);
        }

        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => send.WaitAsync(Patience));

        Assert.Equal(HttpRequestError.ResponseEnded, exception.HttpRequestError);
        // The request reached the backend: not a connect failure, so it must not be retried elsewhere.
        Assert.Equal(BackendFailure.HandshakeError, BackendFailures.Classify(ForwarderError.Request, exception, 502));
    }

    [Theory]
    [InlineData("SSH-2.0-OpenSSH_9.6\r\n\r\n")]
    [InlineData("HTTP/2.0 101 Switching Protocols\r\n\r\n")]
    [InlineData("HTTP/1.1 101 Switching Protocols\r\nUpgrade websocket\r\n\r\n")]
    [InlineData("<html><body>hello</body></html>\r\n\r\n")]
    public async Task SendAsync_GarbageInsteadOfHttp_InvalidResponse(string answer)
    {
        using var request = Request("/");
        var send = Client().SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        await WriteAsync(backend, answer);

        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => send.WaitAsync(Patience));

        Assert.Equal(HttpRequestError.InvalidResponse, exception.HttpRequestError);
        await AssertClosedByTheGatewayAsync(backend);
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(5 * 1024)]
    [InlineData(8 * 1024)]
    [InlineData(64 * 1024)]
    public async Task SendAsync_ResponseHeadOverTheLimit_ConfigurationLimitExceeded(int limit)
    {
        // A head one byte over the limit; the backend keeps the connection open, as a misbehaving one would.
        var answer = HeadOfLength(limit + 1);
        using var request = Request("/");
        var send = Client(maxResponseHeadBytes: limit).SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        await WriteAsync(backend, answer);

        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => send.WaitAsync(Patience));

        Assert.Equal(HttpRequestError.ConfigurationLimitExceeded, exception.HttpRequestError);
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(5 * 1024)]
    [InlineData(8 * 1024)]
    public async Task SendAsync_UnfinishedHeadFillingTheLimit_ConfigurationLimitExceeded_WithoutWaitingForMore(int limit)
    {
        // Exactly the limit's worth of head, no blank line yet, and the backend then waits: the limit is reached,
        // so the answer is known to be too large; nothing the backend sends later can change that.
        var answer = HeadOfLength(limit + 2)[..limit];
        using var request = Request("/");
        var send = Client(maxResponseHeadBytes: limit).SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        await WriteAsync(backend, answer);

        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => send.WaitAsync(TimeSpan.FromSeconds(5)));

        Assert.Equal(HttpRequestError.ConfigurationLimitExceeded, exception.HttpRequestError);
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(5 * 1024)]
    [InlineData(8 * 1024)]
    public async Task SendAsync_ResponseHeadExactlyAtTheLimit_Accepted(int limit)
    {
        var answer = HeadOfLength(limit);
        using var request = Request("/");
        var send = Client(maxResponseHeadBytes: limit).SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        await WriteAsync(backend, answer);

        using var response = await send.WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        Assert.True(response.Headers.Contains("X-Filler"));
    }

    [Fact]
    public async Task SendAsync_CancelledWhileWaitingForTheAnswer_OperationCanceled_AndTheConnectionClosed()
    {
        using var request = Request("/");
        using var caller = CancellationTokenSource.CreateLinkedTokenSource(_timeout.Token);
        var send = Client().SendAsync(request, caller.Token);
        using var backend = await AcceptAsync();
        await ReadHeadAsync(backend);
        Assert.False(send.IsCompleted, "no answer was sent");

        await caller.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send.WaitAsync(Patience));
        await AssertClosedByTheGatewayAsync(backend);
    }

    [Theory]
    [InlineData("a\r\nInjected: yes")]
    [InlineData("a\nInjected: yes")]
    [InlineData("a\rInjected: yes")]
    [InlineData("caf\u00e9")]
    public async Task SendAsync_HeaderValueThatCannotBeSent_HttpRequestException_BeforeAnythingIsSent(string value)
    {
        // A line break would let a header value smuggle headers of its own; non-ASCII needs a configured encoding.
        using var request = Request("/");
        request.Headers.TryAddWithoutValidation("X-Value", value);
        Assert.Equal([value], request.Headers.NonValidated["X-Value"]);

        await Assert.ThrowsAsync<HttpRequestException>(() => Client().SendAsync(request, _timeout.Token).WaitAsync(Patience));

        // Not even a connection: a connect that had been made would wait in the listener's backlog.
        Assert.False(_backend.Pending(), "the backend was connected to");
    }

    private static Http11UpgradeClient Client(int maxResponseHeadBytes = 64 * 1024)
        => new(TimeSpan.FromSeconds(10), new TcpKeepAliveOptions(), new SocketBufferOptions(), SslProtocols.None, acceptAnyCertificate: false, maxResponseHeadBytes, requestHeaderEncoding: null, responseHeaderEncoding: null);

    private HttpRequestMessage Request(string pathAndQuery) => new(HttpMethod.Get, $"http://127.0.0.1:{Port}{pathAndQuery}");

    /// <summary>A 101 head of exactly <paramref name="length"/> bytes (blank line included), padded by one header.</summary>
    private static string HeadOfLength(int length)
    {
        const string Start = "HTTP/1.1 101 Switching Protocols\r\nX-Filler: ";
        const string End = "\r\n\r\n";
        var head = Start + new string('f', length - Start.Length - End.Length) + End;
        Assert.Equal(length, head.Length);
        return head;
    }

    /// <summary>Sends <paramref name="request"/>, answers it with <paramref name="answer"/>, and returns the head the backend read.</summary>
    private async Task<string> SendAndAnswerAsync(HttpRequestMessage request, string answer)
    {
        var send = Client().SendAsync(request, _timeout.Token);
        using var backend = await AcceptAsync();
        var head = await ReadHeadAsync(backend);
        await WriteAsync(backend, answer);
        using var response = await send.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        return head;
    }

    private async Task<TcpClient> AcceptAsync() => await _backend.AcceptTcpClientAsync(_timeout.Token);

    /// <summary>Reads the request head byte by byte, so that nothing after it is consumed.</summary>
    private async Task<string> ReadHeadAsync(TcpClient backend)
    {
        var stream = backend.GetStream();
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || head[^4] != '\r' || head[^3] != '\n' || head[^2] != '\r' || head[^1] != '\n')
        {
            if (await stream.ReadAsync(one, _timeout.Token) == 0)
            {
                throw new EndOfStreamException("The request head did not arrive whole: " + Encoding.Latin1.GetString([.. head]));
            }

            head.Add(one[0]);
        }

        return Encoding.Latin1.GetString([.. head]);
    }

    private async Task WriteAsync(TcpClient backend, string text) => await backend.GetStream().WriteAsync(Bytes(text), _timeout.Token);

    /// <summary>The connection the 101 handed over is the backend's socket: bytes go both ways.</summary>
    private async Task AssertConnectedAsync(BackendConnection connection, TcpClient backend)
    {
        await connection.Transport.WriteAsync(Bytes("to backend"), _timeout.Token);
        Assert.Equal("to backend", Encoding.Latin1.GetString(await ReadExactlyAsync(backend.GetStream(), "to backend".Length)));

        await WriteAsync(backend, "to gateway");
        Assert.Equal("to gateway", Encoding.Latin1.GetString(await ReadExactlyAsync(connection.Transport, "to gateway".Length)));
    }

    /// <summary>The gateway's side closed its socket: the backend reads the end of the stream (or a reset).</summary>
    private async Task AssertClosedByTheGatewayAsync(TcpClient backend)
    {
        try
        {
            Assert.Equal(0, await backend.GetStream().ReadAsync(new byte[64], _timeout.Token));
        }
        catch (IOException exception) when (exception.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            // Closed with unread bytes: a reset is a close too.
        }
    }

    private async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer, _timeout.Token);
        return buffer;
    }

    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);
}
