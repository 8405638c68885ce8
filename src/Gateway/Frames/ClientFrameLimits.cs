namespace Gateway.Frames;

/// <summary>Limits a route puts on the frames its clients send (route metadata over <c>Gateway:Sessions</c>).</summary>
/// <param name="MaxFrameSize">Largest payload of one data frame, in bytes.</param>
/// <param name="MaxMessageSize">Largest message (the sum of its fragments' payloads), in bytes.</param>
/// <param name="AllowCompressed">The handshake negotiated <c>permessage-deflate</c>: RSV1 may mark a message's first frame.</param>
internal readonly record struct ClientFrameLimits(long MaxFrameSize, long MaxMessageSize, bool AllowCompressed = false)
{
    public static ClientFrameLimits Unlimited => new(long.MaxValue, long.MaxValue, AllowCompressed: true);
}
