using System.Net;
using System.Net.Security;
using System.Net.WebSockets;

namespace Gateway.IntegrationTests.Infrastructure;

public enum ClientProtocol
{
    /// <summary>HTTP/1.1 Upgrade.</summary>
    Http11,

    /// <summary>HTTP/2 extended CONNECT over cleartext with prior knowledge.</summary>
    H2c,

    /// <summary>HTTP/2 extended CONNECT over TLS (ALPN h2).</summary>
    H2,
}

public static class WebSocketClient
{
    private static readonly HttpMessageInvoker SharedHttp2Invoker = new(new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = static (_, _, _, _) => true },
    });

    /// <param name="keepAlive">The client's own keep-alive frames (unsolicited pongs); null for .NET's default (30 s).</param>
    public static async Task<ClientWebSocket> ConnectAsync(Uri uri, ClientProtocol protocol = ClientProtocol.Http11, TimeSpan? keepAlive = null, CancellationToken cancellationToken = default)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (keepAlive is { } interval)
        {
            socket.Options.KeepAliveInterval = interval;
        }

        try
        {
            if (protocol == ClientProtocol.Http11)
            {
                socket.Options.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
                await socket.ConnectAsync(uri, cancellationToken);
            }
            else
            {
                socket.Options.HttpVersion = HttpVersion.Version20;
                socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
                await socket.ConnectAsync(uri, SharedHttp2Invoker, cancellationToken);
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Tries to connect and returns the HTTP status the handshake was answered with.</summary>
    public static async Task<(HttpStatusCode Status, IReadOnlyDictionary<string, IEnumerable<string>>? Headers)> FailedUpgradeAsync(Uri uri)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        try
        {
            await socket.ConnectAsync(uri, CancellationToken.None);
        }
        catch (WebSocketException)
        {
            return (socket.HttpStatusCode, socket.HttpResponseHeaders);
        }

        throw new InvalidOperationException($"The upgrade to {uri} unexpectedly succeeded.");
    }

    public static async Task<byte[]> ReceiveMessageAsync(this WebSocket socket, CancellationToken cancellationToken = default)
    {
        using var message = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new WebSocketException($"Closed with {result.CloseStatus} '{result.CloseStatusDescription}' while a message was expected.");
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return message.ToArray();
            }
        }
    }

    public static async Task<byte[]> EchoAsync(this WebSocket socket, byte[] payload, WebSocketMessageType type, CancellationToken cancellationToken = default)
    {
        await socket.SendAsync(payload, type, endOfMessage: true, cancellationToken);
        return await socket.ReceiveMessageAsync(cancellationToken);
    }

    /// <summary>Reads until the peer's close frame arrives; returns its status and description.</summary>
    public static async Task<(WebSocketCloseStatus? Status, string? Description)> ReceiveCloseAsync(this WebSocket socket, CancellationToken cancellationToken = default)
    {
        var buffer = new byte[4096];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (result.CloseStatus, result.CloseStatusDescription);
            }
        }
    }
}
