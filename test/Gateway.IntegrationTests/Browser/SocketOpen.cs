namespace Gateway.IntegrationTests.Browser;

/// <summary>What <c>new WebSocket(url)</c> came to: opened, or ended before opening (a refused handshake).</summary>
public sealed record SocketOpen
{
    public int Id { get; init; }

    public bool Opened { get; init; }
}
