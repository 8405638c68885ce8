namespace Gateway.Management;

/// <summary>The answer to a drain call (202): the destination as configured, its sessions when the drain began, the window.</summary>
internal sealed record DrainResult(string Cluster, string Destination, string? Address, int Sessions, double WindowSeconds);
