using System.Net;
using Gateway.Admission;

namespace Gateway.Tests.Admission;

public sealed class ClientSessionCounterTests
{
    private static readonly IPAddress A = IPAddress.Parse("198.51.100.1");
    private static readonly IPAddress B = IPAddress.Parse("198.51.100.2");

    [Fact]
    public void TryAcquire_CapsEachClientSeparately_AndForgetsAClientWithoutSessions()
    {
        var counter = new ClientSessionCounter();
        Assert.True(counter.TryAcquire(A, 2, out var a1));
        Assert.True(counter.TryAcquire(A, 2, out var a2));
        Assert.False(counter.TryAcquire(A, 2, out _));
        Assert.True(counter.TryAcquire(B, 2, out var b1));
        Assert.Equal(2, counter.SessionsOf(A));

        counter.Release(A, a1);
        Assert.True(counter.TryAcquire(A, 2, out var a3));
        counter.Release(A, a2);
        counter.Release(A, a3);
        counter.Release(B, b1);
        Assert.Equal(0, counter.ClientCount);
        Assert.Equal(0, counter.SessionsOf(A));
    }

    [Fact]
    public void TryAcquire_ZeroMeansUnlimited_AndALowerCapAppliesToNewSessionsOnly()
    {
        var counter = new ClientSessionCounter();
        for (var i = 0; i < 50; i++)
        {
            Assert.True(counter.TryAcquire(A, 0, out _));
        }

        Assert.False(counter.TryAcquire(A, 10, out _));
        Assert.Equal(50, counter.SessionsOf(A));
    }

    [Fact]
    public async Task AcquireAndRelease_RacingOnOneClient_KeepsAnExactCount()
    {
        var counter = new ClientSessionCounter();
        using var start = new Barrier(4);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < 20_000; i++)
            {
                // Each round takes the count from 0 to 1 and back, the window in which an entry is retired.
                if (counter.TryAcquire(A, 0, out var entry))
                {
                    counter.Release(A, entry);
                }
            }
        })));
        Assert.Equal(0, counter.SessionsOf(A));
        Assert.Equal(0, counter.ClientCount);
        Assert.True(counter.TryAcquire(A, 1, out _));
        Assert.False(counter.TryAcquire(A, 1, out _));
    }
}
