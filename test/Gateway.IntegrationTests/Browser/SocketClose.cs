namespace Gateway.IntegrationTests.Browser;

/// <summary>A WebSocket's close event as the page saw it (<c>CloseEvent</c>), and whether an error event came first.</summary>
/// <remarks>Settable properties: Playwright fills the object it deserializes a script's result into.</remarks>
public sealed record SocketClose
{
    public int Code { get; init; }

    public string Reason { get; init; } = "";

    public bool WasClean { get; init; }

    public bool Error { get; init; }
}
