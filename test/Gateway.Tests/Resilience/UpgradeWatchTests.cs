using Gateway.Proxy;
using Gateway.Resilience;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Resilience;

public sealed class UpgradeWatchTests
{
    private static readonly ClusterResilienceSettings Settings = new(0.5, 2, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3));

    [Fact]
    public async Task UnansweredHandshake_TimesOut_CancelsTheForward_AndCountsAsFailure()
    {
        var time = new ManualTimeProvider();
        using var watch = new UpgradeWatch(time);
        using var attempt = new UpgradeAttempt(new DestinationBreaker(new BreakerKey("c", "d1"), Settings), upgrade: null, time, CancellationToken.None);
        watch.Add(attempt);

        time.Advance(TimeSpan.FromSeconds(1.9));
        Assert.False(attempt.IsResolved);
        Assert.False(attempt.Token.IsCancellationRequested);

        time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Equal(BackendFailure.HandshakeTimeout, (await attempt.Outcome).Result);
        Assert.True(attempt.HandshakeTimedOut);
        await Eventually(() => attempt.Token.IsCancellationRequested);
        Assert.Equal(0, watch.Pending);
    }

    [Fact]
    public async Task UpgradedSession_IsASuccessOnceItOutlivesTheEarlyAbortWindow()
    {
        var time = new ManualTimeProvider();
        using var watch = new UpgradeWatch(time);
        var upgrade = Upgrade(time, out var registry);
        using var attempt = new UpgradeAttempt(new DestinationBreaker(new BreakerKey("c", "d1"), Settings), upgrade, time, CancellationToken.None);
        watch.Add(attempt);

        time.Advance(TimeSpan.FromSeconds(1));
        await using var stream = upgrade.Start(Stream.Null);
        time.Advance(TimeSpan.FromSeconds(2.5));
        // Past the handshake deadline, but the session started: only the window counts now.
        Assert.False(attempt.IsResolved);
        Assert.False(attempt.Token.IsCancellationRequested);

        time.Advance(TimeSpan.FromSeconds(0.6));
        Assert.Equal(BackendFailure.None, (await attempt.Outcome).Result);
        Assert.False(attempt.Token.IsCancellationRequested);
        Assert.Equal(1, registry.Count);
    }

    /// <summary>
    /// A session that left its request (the lean path) is judged by the watch: ended by the backend inside the
    /// early-abort window, it is the destination's failure; ended by the client, it is not.
    /// </summary>
    [Theory]
    [InlineData((int)SessionCloseReason.BackendLost, (int)BackendFailure.EarlyAbort)]
    [InlineData((int)SessionCloseReason.ClientLost, (int)BackendFailure.None)]
    [InlineData((int)SessionCloseReason.BackendClose, (int)BackendFailure.None)]
    public async Task SessionOutsideItsRequest_EndingInsideTheWindow_IsJudgedByHowItEnded(int reason, int expected)
    {
        var time = new ManualTimeProvider();
        using var watch = new UpgradeWatch(time);
        var upgrade = Upgrade(time, out var registry);
        using var attempt = new UpgradeAttempt(new DestinationBreaker(new BreakerKey("c", "d1"), Settings), upgrade, time, CancellationToken.None);
        watch.Add(attempt);
        await using var stream = upgrade.Start(Stream.Null);
        var reported = new List<BackendFailure>();
        attempt.LeaveRequest(resolved => reported.Add(resolved.Failure));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(attempt.IsResolved);
        registry.Close(upgrade.Session!, (SessionCloseReason)reason);
        time.Advance(TimeSpan.FromSeconds(0.1));

        Assert.Equal((BackendFailure)expected, (await attempt.Outcome).Result);
        Assert.Equal(0, watch.Pending);
        // Reported once, when the watch resolved it (the breaker middleware no longer waits for it).
        Assert.Equal([(BackendFailure)expected], reported);
    }

    [Fact]
    public async Task FirstOutcome_Wins()
    {
        var time = new ManualTimeProvider();
        using var attempt = new UpgradeAttempt(new DestinationBreaker(new BreakerKey("c", "d1"), Settings), upgrade: null, time, CancellationToken.None);
        Assert.True(attempt.Resolve(BackendFailure.Status5xx));
        Assert.False(attempt.Resolve(BackendFailure.None));
        Assert.Equal(BackendFailure.Status5xx, (await attempt.Outcome).Result);
    }

    private static SessionUpgrade Upgrade(TimeProvider time, out SessionRegistry registry)
    {
        registry = TestServices.Registry(time);
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        return new SessionUpgrade(registry, context, "route-a", new FixedPolicy(), SessionProtocol.Http11Upgrade);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    private sealed class FixedPolicy : ISessionRelayPolicy
    {
        public SessionTarget TargetOf(Microsoft.AspNetCore.Http.HttpContext context) => new("c", "d1", false);

        public SessionCloseReason ReasonFor(Session session, Gateway.Relay.RelayFault fault) => SessionCloseReason.BackendLost;

        public ReadOnlyMemory<byte> FarewellFor(Session session, SessionCloseReason reason, bool atFrameBoundary) => ReadOnlyMemory<byte>.Empty;
    }
}
