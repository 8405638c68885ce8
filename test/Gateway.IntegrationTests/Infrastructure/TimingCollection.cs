namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// Tests that assert a latency bound run alone: on a 2-core CI machine a neighbour test opening hundreds of
/// sockets, or starting a process, can stall any single request for longer than the bound.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "Timing";
}
