using System.Buffers.Binary;
using System.Text;

namespace Gateway.Frames;

/// <summary>
/// The close status codes the gateway sends (RFC 6455 §7.4, the IANA registry) and the close frames that carry them
/// (§5.5.1: at most 125 bytes of payload; unmasked to a client, masked to a backend). Which code ends which kind of
/// session is decided in one place, <see cref="Sessions.SessionEnds"/>.
/// </summary>
internal static class CloseFrame
{
    public const int NormalClosure = 1000;

    /// <summary>1001: an endpoint is going away (a drain, a client gone, an eviction).</summary>
    public const int GoingAway = 1001;

    /// <summary>1002: a frame broke the protocol.</summary>
    public const int ProtocolError = 1002;

    /// <summary>1009: a frame or message too big to process.</summary>
    public const int MessageTooBig = 1009;

    /// <summary>1011: the server met a condition that prevented it from fulfilling the request.</summary>
    public const int InternalError = 1011;

    /// <summary>1012 "Service Restart" (IANA registry): the client may reconnect, to another instance.</summary>
    public const int ServiceRestart = 1012;

    /// <summary>1013 "Try Again Later" (IANA registry): back off before reconnecting.</summary>
    public const int TryAgainLater = 1013;

    /// <summary>1005 "No Status Received": never on the wire; what a close frame without a body reports.</summary>
    public const int NoStatusReceived = 1005;

    /// <summary>
    /// Whether an endpoint may put <paramref name="status"/> in a close frame (RFC 6455 §7.4.1, §7.4.2 and the IANA
    /// registry): 1000–1003 and 1007–1014 (1004 is reserved; 1005, 1006 and 1015 are for reporting only, never sent;
    /// 1016–2999 are unassigned), 3000–3999 (registered by libraries and frameworks) and 4000–4999 (private use).
    /// </summary>
    public static bool MaySend(int status)
        => status is (>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999);

    /// <summary>Encodes a close frame for a client. <paramref name="status"/> null: a close without a body.</summary>
    public static byte[] ForClient(int? status, string reason)
        => status is null ? [0x88, 0x00] : Encode(status.Value, reason, masked: false);

    /// <summary>
    /// Encodes a close frame for a backend: the gateway is the backend's client, so the frame is masked
    /// (RFC 6455 §5.3) with a fresh random key.
    /// </summary>
    public static byte[] ForBackend(int status, string reason) => Encode(status, reason, masked: true);

    private static byte[] Encode(int status, string reason, bool masked)
    {
        var reasonBytes = Encoding.UTF8.GetByteCount(reason);
        if (reasonBytes > 123)
        {
            throw new ArgumentException("A close reason is at most 123 bytes of UTF-8.", nameof(reason));
        }

        var keyLength = masked ? 4 : 0;
        var frame = new byte[2 + keyLength + 2 + reasonBytes];
        frame[0] = 0x88; // FIN + close
        frame[1] = (byte)((masked ? 0x80 : 0) | (2 + reasonBytes));
        var payload = frame.AsSpan(2 + keyLength);
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)status);
        Encoding.UTF8.GetBytes(reason, payload[2..]);
        if (masked)
        {
            var key = frame.AsSpan(2, 4);
            System.Security.Cryptography.RandomNumberGenerator.Fill(key);
            for (var i = 0; i < payload.Length; i++)
            {
                payload[i] ^= key[i & 3];
            }
        }

        return frame;
    }

    /// <summary>Codes an endpoint may put in a close frame (1005, 1006 and 1015 are only ever reported locally).</summary>
    public static bool IsSendable(int status) => status is >= 1000 and <= 4999 and not (1004 or 1005 or 1006 or 1015);
}
