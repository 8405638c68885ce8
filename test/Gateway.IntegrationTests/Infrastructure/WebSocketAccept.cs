using System.Security.Cryptography;
using System.Text;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>The <c>Sec-WebSocket-Accept</c> a backend answers a <c>Sec-WebSocket-Key</c> with (RFC 6455 §4.2.2).</summary>
public static class WebSocketAccept
{
    public static string For(string key)
    {
#pragma warning disable CA5350 // RFC 6455 §4.2.2 prescribes SHA-1 for Sec-WebSocket-Accept; it is not used for security here.
        return Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
    }
}
