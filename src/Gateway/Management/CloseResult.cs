namespace Gateway.Management;

/// <summary>What a close call did: sessions matched, those now closing with <paramref name="Code"/>, those already ending.</summary>
internal sealed record CloseResult(int Matched, int Closing, int AlreadyEnding, int Code, string Reason);
