using System.Net;

namespace Gateway.LoadTest.Cli;

internal enum LoadTestCommand
{
    Hold,
    Echo,
    Storm,
}

/// <summary>Everything one run needs, after parsing and validation. A worker gets its share through
/// <see cref="ShareFor"/>.</summary>
internal sealed record LoadTestOptions
{
    public required LoadTestCommand Command { get; init; }

    public required Uri Url { get; init; }

    public bool Http2 { get; init; }

    public bool Insecure { get; init; }

    public IReadOnlyList<IPAddress> SourceAddresses { get; init; } = [];

    public int Workers { get; init; } = 1;

    /// <summary>Set in a worker process only: its index, the number of workers and where to write its result.</summary>
    public int? WorkerIndex { get; init; }

    public int WorkerCount { get; init; } = 1;

    public string? ResultFile { get; init; }

    /// <summary>echo: how long messages are sent; hold and storm: an upper bound on the whole run.</summary>
    public TimeSpan? Duration { get; init; }

    public string? JsonFile { get; init; }

    public int Seed { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public int Sessions { get; init; }

    /// <summary>Sessions (hold, echo) started per second; 0 = as fast as <see cref="Concurrency"/> allows.</summary>
    public double Ramp { get; init; }

    public TimeSpan Hold { get; init; }

    public TimeSpan Keepalive { get; init; }

    public double Rate { get; init; }

    public int Size { get; init; }

    public bool Binary { get; init; }

    public int Attempts { get; init; }

    public int Concurrency { get; init; } = 64;

    public TimeSpan Linger { get; init; }

    /// <summary>hold: a session that ends, or an upgrade that fails, is tried again (<see cref="Reconnect.ReconnectPolicy"/>).</summary>
    public bool Reconnect { get; init; }

    public TimeSpan ReconnectBase { get; init; } = TimeSpan.FromSeconds(0.5);

    public TimeSpan ReconnectCap { get; init; } = TimeSpan.FromSeconds(30);

    public bool IsWorker => WorkerIndex is not null;

    /// <summary>Worker <paramref name="index"/>'s part: an even split of sessions, attempts, rate and ramp
    /// (the first workers take the remainder), and its share of the source addresses.</summary>
    public LoadTestOptions ShareFor(int index, int count) => this with
    {
        WorkerIndex = index,
        WorkerCount = count,
        Sessions = Split(Sessions, index, count),
        Attempts = Split(Attempts, index, count),
        Concurrency = Math.Max(1, Split(Concurrency, index, count)),
        Rate = Rate / count,
        Ramp = Ramp / count,
        SourceAddresses = Net.SourceAddressList.ShareOf(SourceAddresses, index, count),
    };

    internal static int Split(int total, int index, int count) => (total / count) + (index < total % count ? 1 : 0);
}
