using System.IO.Pipelines;
using Gateway.Connections;
using Gateway.Hosting;
using Gateway.Telemetry;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Connections;

public sealed class ConnectionGateTests
{
    [Theory]
    [InlineData(20000L, 256, 9872)]
    [InlineData(512L, 256, 128)]
    [InlineData(1048576L, 256, 524160)]
    [InlineData(100L, 256, 1)]
    public void Derive_LeavesTheReserve_TwoDescriptorsAConnection(long openFileLimit, int reserved, int expected)
        => Assert.Equal(expected, ConnectionGate.Derive(openFileLimit, reserved));

    [Fact]
    public void Derive_WithoutAKnownLimit_CapsNothing()
    {
        Assert.Equal(int.MaxValue, ConnectionGate.Derive(null, 256));
        Assert.Equal(int.MaxValue, ConnectionGate.Derive(long.MaxValue, 256));
    }

    [Fact]
    public void DescriptorLimit_ReadsTheSoftLimitOfProcLimits()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(path, ["Limit                     Soft Limit           Hard Limit           Units", "Max open files            4096                 20000                files"]);
            Assert.Equal(4096, DescriptorLimit.ReadSoftLimit(path));
            File.WriteAllLines(path, ["Max open files            unlimited            unlimited            files"]);
            Assert.Null(DescriptorLimit.ReadSoftLimit(path));
        }
        finally
        {
            File.Delete(path);
        }

        Assert.Null(DescriptorLimit.ReadSoftLimit("/nonexistent/limits"));
    }

    [Fact]
    public void TryEnter_UpToTheCap_ThenRefusesAndCounts_ExitMakesRoom()
    {
        var meters = TestServices.MeterFactory();
        using var recorder = new MeasurementRecorder(meters);
        using var gate = Gate(new ServerLimitsOptions { MaxConnections = 2 }, meters, new ManualTimeProvider());

        Assert.True(gate.TryEnter());
        Assert.True(gate.TryEnter());
        Assert.False(gate.TryEnter());
        Assert.Equal(2, gate.Open);
        gate.Exit();
        Assert.True(gate.TryEnter());
        Assert.Equal(1, Refused(recorder, "limit"));
    }

    [Fact]
    public async Task FirstByte_InTime_PassesItOnUnconsumed_Silent_IsCancelledAtTheDeadlineByTheOneTicker()
    {
        var time = new ManualTimeProvider();
        var meters = TestServices.MeterFactory();
        using var recorder = new MeasurementRecorder(meters);
        using var gate = Gate(new ServerLimitsOptions { FirstByteTimeout = TimeSpan.FromSeconds(2) }, meters, time);

        var talker = new Pipe();
        var talking = gate.WaitForFirstByteAsync(talker.Reader);
        await talker.Writer.WriteAsync("G"u8.ToArray());
        Assert.True(await talking);
        var again = await talker.Reader.ReadAsync();
        Assert.Equal("G"u8.ToArray(), System.Buffers.BuffersExtensions.ToArray(again.Buffer));

        var silent = new Pipe();
        var waiting = gate.WaitForFirstByteAsync(silent.Reader).AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(waiting.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1.5));
        Assert.False(await waiting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, Refused(recorder, "first_byte_timeout"));
    }

    private static double Refused(MeasurementRecorder recorder, string reason)
        => recorder.Measurements.Where(m => m.Instrument == "gateway.connections.refused" && (string?)m.Tags["reason"] == reason).Sum(m => m.Value);

    private static ConnectionGate Gate(ServerLimitsOptions limits, System.Diagnostics.Metrics.IMeterFactory meters, TimeProvider time)
        => new(limits, 20000, 200, new ConnectionMetrics(meters), time, NullLogger<ConnectionGate>.Instance);
}
