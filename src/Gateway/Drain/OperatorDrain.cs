namespace Gateway.Drain;

/// <summary>The answer to an operator's drain request: the outcome, the destination as configured, and the drain's size and window.</summary>
/// <param name="Sessions">Sessions on the destination when the drain began (they are closed across <paramref name="Window"/>).</param>
internal sealed record OperatorDrain(OperatorDrainOutcome Outcome, string ClusterId, string DestinationId, string? Address, int Sessions, TimeSpan Window);
