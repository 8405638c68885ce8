namespace Gateway.Frames;

/// <summary>Why a client frame was refused: the close status the client gets, the reason and a metric label.</summary>
internal readonly record struct FrameRejection(int Status, string Reason, string Kind)
{
    public const int ProtocolError = 1002;
    public const int MessageTooBig = 1009;

    public bool IsEmpty => Status == 0;
}
