using System.Net;
using Gateway.Resilience;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Resilience;

/// <summary>The per-destination count of failures each client could have provoked, with its cap, windows and bound.</summary>
public sealed class ClientFailureLedgerTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(30);
    private static readonly IPAddress A = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress B = IPAddress.Parse("192.0.2.2");

    private readonly ManualTimeProvider _time = new();

    [Fact]
    public void TryCount_UpToTheCap_ThenRefuses_OtherClientsUnaffected()
    {
        var ledger = new ClientFailureLedger(2, Window, _time);
        Assert.False(ledger.HasReachedCap(A));
        Assert.True(ledger.TryCount(A));
        Assert.False(ledger.HasReachedCap(A));
        Assert.True(ledger.TryCount(A));
        Assert.True(ledger.HasReachedCap(A));
        Assert.False(ledger.TryCount(A));
        Assert.False(ledger.TryCount(A));
        Assert.Equal(2, ledger.CountOf(A));

        Assert.False(ledger.HasReachedCap(B));
        Assert.True(ledger.TryCount(B));
        Assert.Equal(1, ledger.CountOf(B));
    }

    [Fact]
    public void Cap_HoldsAcrossAWindowBoundary_AndIsForgottenAfterTwoWindows()
    {
        var ledger = new ClientFailureLedger(2, Window, _time);
        // Late in one window...
        _time.Advance(Window - TimeSpan.FromTicks(_time.GetTimestamp() % Window.Ticks) - TimeSpan.FromSeconds(1));
        Assert.True(ledger.TryCount(A));
        Assert.True(ledger.TryCount(A));

        // ...and early in the next: still within one sampling window of the first two (Polly's window rolls).
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(ledger.HasReachedCap(A));
        Assert.False(ledger.TryCount(A));

        _time.Advance(Window);
        Assert.False(ledger.HasReachedCap(A));
        Assert.Equal(0, ledger.CountOf(A));
        Assert.True(ledger.TryCount(A));
        Assert.Equal(1, ledger.CountOf(A));
    }

    [Fact]
    public void IPv4_AndItsMappedIPv6Form_AreOneClient()
    {
        var ledger = new ClientFailureLedger(1, Window, _time);
        Assert.True(ledger.TryCount(A));
        Assert.True(ledger.HasReachedCap(A.MapToIPv6()));
        Assert.False(ledger.TryCount(A.MapToIPv6()));
        Assert.False(ledger.HasReachedCap(IPAddress.Parse("2001:db8::1")));
    }

    [Fact]
    public void FullTable_FurtherClientsCountUnrecorded_StaleSlotsAreReused()
    {
        var ledger = new ClientFailureLedger(1, Window, _time);
        for (var i = 0; i < ClientFailureLedger.Capacity; i++)
        {
            Assert.True(ledger.TryCount(Client(i)));
        }

        // More distinct clients failing than the ledger holds: the backend's trouble, so every failure counts.
        var extra = Client(ClientFailureLedger.Capacity);
        Assert.True(ledger.TryCount(extra));
        Assert.True(ledger.TryCount(extra));
        Assert.False(ledger.HasReachedCap(extra));
        Assert.True(ledger.HasReachedCap(Client(0)));

        // Two windows on, every slot has aged out and takes a new client.
        _time.Advance(Window * 2);
        Assert.True(ledger.TryCount(extra));
        Assert.True(ledger.HasReachedCap(extra));
        Assert.False(ledger.HasReachedCap(Client(0)));
    }

    [Fact]
    public void HasReachedCap_AndTryCount_AllocateNothing()
    {
        var ledger = new ClientFailureLedger(2, Window, _time);
        Assert.False(ledger.HasReachedCap(A));
        var allocated = Allocations.MinimumPerRound(
            () =>
            {
                _ = ledger.HasReachedCap(A);
                _ = ledger.TryCount(B);
            },
            warmup: 10,
            iterations: 100,
            rounds: 5);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Constructor_RefusesACapBelowOne()
        => Assert.Throws<ArgumentOutOfRangeException>(() => new ClientFailureLedger(0, Window, _time));

    private static IPAddress Client(int i) => new([10, 0, (byte)(i >> 8), (byte)i]);
}
