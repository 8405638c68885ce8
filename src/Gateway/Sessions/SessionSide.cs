namespace Gateway.Sessions;

/// <summary>One side of a session.</summary>
internal enum SessionSide
{
    None = 0,
    Client = 1,
    Backend = 2,
}
