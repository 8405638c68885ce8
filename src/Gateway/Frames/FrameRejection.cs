namespace Gateway.Frames;

/// <summary>Why a client frame was refused: the close status the client gets, the reason and a metric label.</summary>
internal readonly record struct FrameRejection(int Status, string Reason, string Kind)
{
    public const int ProtocolError = CloseFrame.ProtocolError;
    public const int MessageTooBig = CloseFrame.MessageTooBig;

    public bool IsEmpty => Status == 0;
}
