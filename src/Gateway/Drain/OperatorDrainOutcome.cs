namespace Gateway.Drain;

/// <summary>What became of an operator's request to drain a destination (<see cref="DestinationDrain.StartByOperator"/>).</summary>
internal enum OperatorDrainOutcome
{
    /// <summary>The drain runs.</summary>
    Started,

    /// <summary>No such cluster, or no such destination in it (the current configuration).</summary>
    Unknown,

    /// <summary>The destination is being drained already (left the configuration, or an earlier operator's drain).</summary>
    AlreadyDraining,
}
