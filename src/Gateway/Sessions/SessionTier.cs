namespace Gateway.Sessions;

/// <summary>Where a session stands for the heartbeat scheduler; the <c>tier</c> label of the sessions-by-tier gauge.</summary>
internal enum SessionTier : byte
{
    /// <summary>Carried an application message within the probe interval.</summary>
    Active,

    /// <summary>A gateway ping is outstanding.</summary>
    Probing,

    /// <summary>Answers pings but carries no application messages.</summary>
    Idle,

    /// <summary>The gateway is closing it.</summary>
    Closing,
}
