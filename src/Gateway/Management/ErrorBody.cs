namespace Gateway.Management;

/// <summary>Every refused management call's body: what was wrong, in a sentence.</summary>
internal sealed record ErrorBody(string Error);
