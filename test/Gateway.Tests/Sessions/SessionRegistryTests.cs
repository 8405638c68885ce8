using Gateway.Sessions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Sessions;

public sealed class SessionRegistryTests
{
    [Fact]
    public async Task Close_FromManyThreadsAtOnce_RemovesAndCountsTheSessionExactlyOnce()
    {
        var meters = TestServices.MeterFactory();
        using var recorder = new MeasurementRecorder(meters);
        var registry = TestServices.Registry(meters: meters);
        var session = registry.Open(TestServices.StartInfo());
        Assert.Equal(1, registry.Count);

        using var start = new Barrier(8);
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() =>
        {
            start.SignalAndWait();
            return registry.Close(session, i % 2 == 0 ? SessionCloseReason.ClientClose : SessionCloseReason.BackendLost);
        })));

        Assert.Single(results, closed => closed);
        Assert.Equal(0, registry.Count);
        Assert.Empty(registry.Sessions);
        Assert.Single(recorder.Values("gateway.sessions.closed"));
        Assert.Single(recorder.Values("gateway.session.duration"));
        Assert.Equal(0, recorder.Values("gateway.sessions.active").Sum());
    }

    [Fact]
    public void Close_RecordsDurationFromTheTimeProvider_AndReasonTag()
    {
        var meters = TestServices.MeterFactory();
        using var recorder = new MeasurementRecorder(meters);
        var time = new ManualTimeProvider();
        var registry = TestServices.Registry(time, meters);
        var session = registry.Open(TestServices.StartInfo("timed"));

        time.Advance(TimeSpan.FromSeconds(42.5));
        registry.Close(session, SessionCloseReason.BackendClose);

        var duration = Assert.Single(recorder.Measurements, m => m.Instrument == "gateway.session.duration");
        Assert.Equal(42.5, duration.Value, precision: 6);
        Assert.Equal("backend_close", duration.Tags["reason"]);
        Assert.Equal("timed", duration.Tags["route"]);
    }

    [Fact]
    public void Sessions_ListsOpenSessionsOnly_WithUniqueIds()
    {
        var registry = TestServices.Registry();
        var sessions = Enumerable.Range(0, 100).Select(_ => registry.Open(TestServices.StartInfo())).ToList();
        foreach (var session in sessions.Where(s => s.Id % 3 == 0))
        {
            registry.Close(session, SessionCloseReason.ClientClose);
        }

        Assert.Equal(sessions.Select(s => s.Id).Distinct().Count(), sessions.Count);
        Assert.Equal(sessions.Where(s => s.Id % 3 != 0).Select(s => s.Id).Order(), registry.Sessions.Select(s => s.Id).Order());
        Assert.Equal(registry.Sessions.Count(), registry.Count);
    }
}
