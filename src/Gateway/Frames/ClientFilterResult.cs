namespace Gateway.Frames;

/// <summary>What one pass of <see cref="ClientFrameFilter.Filter"/> found.</summary>
internal struct ClientFilterResult
{
    /// <summary>Bytes at the front of the buffer to pass on.</summary>
    public int Length;

    /// <summary>Application messages completed.</summary>
    public int Messages;

    /// <summary>Frame headers seen (any frame, including control frames and the gateway's pongs).</summary>
    public int Frames;

    /// <summary>Pongs to the gateway's pings cut out here.</summary>
    public int Pongs;

    /// <summary>Send timestamp of the last gateway ping answered here; 0 for none.</summary>
    public long PongTimestamp;

    /// <summary>Set when a frame was refused; nothing after <see cref="Length"/> may go on.</summary>
    public FrameRejection Rejection;

    public readonly bool Rejected => !Rejection.IsEmpty;
}
