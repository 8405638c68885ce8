using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Runtime;
using Gateway.Frames;
using Gateway.Heartbeat;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gateway.Benchmarks;

/// <summary>
/// <c>heartbeat-scale</c>: the session registry and the heartbeat scheduler at a million sessions, without sockets.
/// Measures the managed memory they hold per session and the CPU a tick costs, on a manual clock moved one second
/// per tick, with every session a healthy idle client (it answers each ping at once and sends nothing else).
/// </summary>
/// <remarks>
/// <para>Usage: <c>heartbeat-scale [--sessions 1000000] [--seconds 60] [--spread none|activity|arrival] [--metrics]</c>.
/// <c>--spread</c> says when the sessions are due: <c>none</c> (default) opens them all at one instant, so every
/// session is due on the same ticks (the worst tick; sessions visited in allocation order); <c>activity</c> opens
/// them at one instant but lets each client's last frame fall at a random moment of the last probe interval, so
/// each tick has about 1/25 of them due, scattered over the heap (the cache behaviour of a long-running gateway);
/// <c>arrival</c> opens them evenly over one probe interval (25 s) with the ticker running. <c>--metrics</c>
/// attaches the gateway's metrics pipeline (the prometheus-net bridge), as in production, so the ping counter really records.</para>
/// <para>What the pinged client does is simulated by <see cref="IdleClient"/>, the session's channel: it records the
/// ping and, in the same call, a pong from the client (what the relay's read would record). A channel is a
/// per-session object (24 B) because <see cref="ISessionChannel.SendPing"/> does not say which session; in the
/// gateway the channel is the session's <see cref="Gateway.Relay.SessionStream"/>, part of the socket's cost, so these objects
/// are attached after the memory of the registry and the scheduler has been measured (or subtracted).</para>
/// </remarks>
internal static class HeartbeatScale
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static int Run(string[] args)
    {
        var sessions = 1_000_000;
        var seconds = 60;
        var spread = Spread.None;
        var metrics = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--sessions":
                    sessions = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--seconds":
                    seconds = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--spread":
                    spread = Enum.Parse<Spread>(args[++i], ignoreCase: true);
                    break;
                case "--metrics":
                    metrics = true;
                    break;
                default:
                    Console.Error.WriteLine($"unknown argument {args[i]}; usage: heartbeat-scale [--sessions N] [--seconds S] [--spread none|activity|arrival] [--metrics]");
                    return 2;
            }
        }

        Console.WriteLine($"heartbeat-scale: {sessions:N0} sessions, {seconds} ticks of 1 s, spread {spread.ToString().ToLowerInvariant()}, metrics pipeline {(metrics ? "on" : "off")}");
        Console.WriteLine($"runtime {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} cores, server GC {GCSettings.IsServerGC}, GC latency mode {GCSettings.LatencyMode}, DOTNET_gcServer={Environment.GetEnvironmentVariable("DOTNET_gcServer") ?? "(unset)"}");

        // Tier-1 code for everything measured below: the same run, small, thrown away, with pauses so that the
        // tiered JIT (which waits for 100 ms without new tier-0 methods before counting calls) finishes its work.
        for (var round = 0; round < 3; round++)
        {
            Simulate(20_000, 60, spread, metrics, quiet: true);
            Thread.Sleep(500);
        }

        var sessionSize = MeasureSessionObject();
        var channelSize = MeasureChannelObject();
        Console.WriteLine();
        Console.WriteLine("| component | bytes |");
        Console.WriteLine("| --- | ---: |");
        Console.WriteLine($"| one Session object (allocated bytes / 100,000 new Session) | {sessionSize:F1} |");
        Console.WriteLine($"| one fake channel (IdleClient, not part of registry + scheduler) | {channelSize:F1} |");

        Simulate(sessions, seconds, spread, metrics, quiet: false, channelSize);
        return 0;
    }

    private static void Simulate(int count, int seconds, Spread spread, bool metrics, bool quiet, double channelSize = 0)
    {
        var clock = new ManualClock();
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var telemetry = metrics ? new GatewayTelemetry(meters) : null;
        var registry = new SessionRegistry(clock, new SessionMetrics(meters), NullLogger<SessionRegistry>.Instance);
        using var scheduler = new HeartbeatScheduler(
            registry,
            Options.Create(new HeartbeatOptions()),
            highWatermark: () => int.MaxValue,
            new HeartbeatMetrics(meters),
            clock,
            NullLogger<HeartbeatScheduler>.Instance);
        var policy = Policy(clock);
        // One address and one set of route strings for everyone, as a gateway shares its configuration's strings.
        var address = IPAddress.Parse("198.51.100.7");
        const string route = "chat";
        const string cluster = "chat-cluster";
        const string destination = "chat-1";
        IdleClient.Reset(clock);

        var before = GC.GetTotalMemory(forceFullCollection: true);
        var opening = Stopwatch.StartNew();
        var openTicks = 0;
        if (spread != Spread.Arrival)
        {
            for (var i = 0; i < count; i++)
            {
                registry.Open(new SessionStartInfo(route, cluster, destination, address, 1024 + (i % 60000), SessionProtocol.Http11Upgrade, Policy: policy));
            }

            if (spread == Spread.Activity)
            {
                // 25 s later, each client last sent a frame (data, nothing to count as a message) less than 24 s
                // ago: each tick will have ~1/25 of the sessions due, in no order the allocator would give, and
                // none is due at the next tick (before the channels are attached).
                clock.Advance(TimeSpan.FromSeconds(25));
                var now = clock.GetTimestamp();
                var random = new Random(6);
                var frame = new ClientFilterResult { Frames = 1, Length = 32 };
                foreach (var session in registry.Sessions)
                {
                    session.RecordInbound(32, frame, now - random.NextInt64(24 * TimeSpan.TicksPerSecond));
                }
            }

            // One tick puts every newcomer on the wheel (none is due for a ping yet).
            clock.Advance(TimeSpan.FromSeconds(1));
            scheduler.OnHeartbeat();
            openTicks = 1;
        }
        else
        {
            // Evenly over one probe interval, with the ticker running, as sessions arrive at a live gateway. Here
            // the channel goes on at once (the first sessions are pinged before the last have arrived).
            var opened = 0;
            const int arrivalSeconds = 25;
            for (var second = 1; second <= arrivalSeconds; second++)
            {
                var until = (int)((long)count * second / arrivalSeconds);
                var step = TimeSpan.TicksPerSecond / Math.Max(1, until - opened);
                for (; opened < until; opened++)
                {
                    var session = registry.Open(new SessionStartInfo(route, cluster, destination, address, 1024 + (opened % 60000), SessionProtocol.Http11Upgrade, Policy: policy));
                    session.Channel = new IdleClient(session);
                    clock.AdvanceTicks(step);
                }

                clock.AdvanceTo(second * TimeSpan.TicksPerSecond);
                scheduler.OnHeartbeat();
                openTicks++;
            }
        }

        opening.Stop();
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var held = after - before;
        var channelsIncluded = spread == Spread.Arrival ? channelSize * count : 0;
        var perSession = (held - channelsIncluded) / count;

        long channelBytes = 0;
        if (spread != Spread.Arrival)
        {
            foreach (var session in registry.Sessions)
            {
                session.Channel = new IdleClient(session);
            }

            channelBytes = GC.GetTotalMemory(forceFullCollection: true) - after;
        }

        // The measured part: `seconds` ticks of one simulated second each.
        var gen0 = GC.CollectionCount(0);
        var gen2 = GC.CollectionCount(2);
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        var threadCpuBefore = ThreadCpu.Now();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var pingsBefore = IdleClient.Pings;
        var maxTick = TimeSpan.Zero;
        var maxPings = 0L;
        var busyTicks = 0;
        var wall = Stopwatch.StartNew();
        for (var tick = 0; tick < seconds; tick++)
        {
            var pings = IdleClient.Pings;
            clock.Advance(TimeSpan.FromSeconds(1));
            var started = Stopwatch.GetTimestamp();
            scheduler.OnHeartbeat();
            var elapsed = Stopwatch.GetElapsedTime(started);
            maxTick = elapsed > maxTick ? elapsed : maxTick;
            var sent = IdleClient.Pings - pings;
            maxPings = Math.Max(maxPings, sent);
            busyTicks += sent > 0 ? 1 : 0;
        }

        wall.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var threadCpu = ThreadCpu.Now() - threadCpuBefore;
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        var totalPings = IdleClient.Pings - pingsBefore;
        GC.KeepAlive(telemetry);

        if (IdleClient.Closes != 0 || registry.Count != count)
        {
            throw new InvalidOperationException($"The simulation went wrong: {IdleClient.Closes} closes or aborts, {registry.Count:N0} of {count:N0} sessions left.");
        }

        if (quiet)
        {
            return;
        }

        Console.WriteLine();
        Console.WriteLine($"Opening {count:N0} sessions (+{openTicks} tick{(openTicks == 1 ? "" : "s")}): {opening.Elapsed.TotalSeconds:F2} s wall; scheduler holds {scheduler.Scheduled:N0}");
        Console.WriteLine();
        Console.WriteLine("| memory | value |");
        Console.WriteLine("| --- | ---: |");
        Console.WriteLine($"| managed heap held by registry + scheduler (GC.GetTotalMemory(true) after − before) | {held / 1048576.0:F1} MiB |");
        if (spread == Spread.Arrival)
        {
            Console.WriteLine($"| of which fake channels (subtracted: {count:N0} × {channelSize:F1} B) | {channelsIncluded / 1048576.0:F1} MiB |");
        }

        Console.WriteLine($"| **per session, registry + scheduler** | **{perSession:F1} B** |");
        if (spread != Spread.Arrival)
        {
            Console.WriteLine($"| fake channels attached afterwards (not counted above), per session | {(double)channelBytes / count:F1} B |");
        }

        Console.WriteLine();
        Console.WriteLine("| ticking | value |");
        Console.WriteLine("| --- | ---: |");
        Console.WriteLine($"| simulated seconds (ticks) | {seconds} |");
        Console.WriteLine($"| wall time of the ticks | {wall.Elapsed.TotalMilliseconds:F1} ms |");
        Console.WriteLine($"| process CPU time of the ticks (all threads; /proc resolution 10 ms) | {cpu.TotalMilliseconds:F1} ms |");
        Console.WriteLine($"| **CPU per simulated second, % of one core** | **{cpu.TotalSeconds / seconds * 100:F3} %** |");
        if (threadCpu >= TimeSpan.Zero)
        {
            Console.WriteLine($"| CPU of the ticking thread alone (clock_gettime, ns resolution) | {threadCpu.TotalMilliseconds:F1} ms = {threadCpu.TotalSeconds / seconds * 100:F3} % of one core |");
        }

        Console.WriteLine($"| wall per simulated second, % of one core | {wall.Elapsed.TotalSeconds / seconds * 100:F3} % |");
        Console.WriteLine($"| pings sent (total / per tick on average) | {totalPings:N0} / {(double)totalPings / seconds:N0} |");
        Console.WriteLine($"| ticks that sent pings / most pings in one tick | {busyTicks} / {maxPings:N0} |");
        Console.WriteLine($"| slowest tick | {maxTick.TotalMilliseconds:F1} ms |");
        Console.WriteLine($"| wall per ping sent (all tick time / pings) | {(totalPings == 0 ? 0 : wall.Elapsed.TotalNanoseconds / totalPings):F0} ns |");
        Console.WriteLine($"| allocated on the ticking thread / GCs (gen0, gen2) during the ticks | {allocated:N0} B / {GC.CollectionCount(0) - gen0}, {GC.CollectionCount(2) - gen2} |");
    }

    private static SessionRoutePolicy Policy(TimeProvider clock)
    {
        var second = clock.TimestampFrequency;
        return new SessionRoutePolicy(
            new ClientFrameLimits(4 * 1024 * 1024, 16 * 1024 * 1024),
            heartbeat: true,
            probeAfter: 25 * second,
            pongTimeout: 10 * second,
            idleTimeout: 0,
            minProbeAfter: 5 * second,
            roundTripMultiplier: 0,
            closeTimeout: 5 * second);
    }

    /// <summary>Bytes one <see cref="Session"/> takes on the heap (header, method table pointer, fields, padding).</summary>
    private static double MeasureSessionObject()
    {
        const int count = 100_000;
        var info = new SessionStartInfo("chat", "chat-cluster", "chat-1", IPAddress.Loopback, 50000, SessionProtocol.Http11Upgrade);
        var keep = new Session[count];
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < count; i++)
        {
            keep[i] = new Session(i, info, 1);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(keep);
        return (double)allocated / count;
    }

    private static double MeasureChannelObject()
    {
        const int count = 100_000;
        var session = new Session(1, new SessionStartInfo("chat", "chat-cluster", "chat-1", IPAddress.Loopback, 50000, SessionProtocol.Http11Upgrade), 1);
        var keep = new IdleClient[count];
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < count; i++)
        {
            keep[i] = new IdleClient(session);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(keep);
        return (double)allocated / count;
    }


    /// <summary>CPU time of the calling thread (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>); negative elsewhere.</summary>
    private static class ThreadCpu
    {
        private const int ClockThreadCpuTime = 3;

        public static TimeSpan Now()
        {
            if (!OperatingSystem.IsLinux() || ClockGetTime(ClockThreadCpuTime, out var time) != 0)
            {
                return TimeSpan.FromTicks(-1);
            }

            return TimeSpan.FromTicks((time.Seconds * TimeSpan.TicksPerSecond) + (time.Nanoseconds / 100));
        }

        [DllImport("libc", EntryPoint = "clock_gettime")]
        private static extern int ClockGetTime(int clock, out TimeSpec time);

        [StructLayout(LayoutKind.Sequential)]
        private struct TimeSpec
        {
            public long Seconds;
            public long Nanoseconds;
        }
    }

    private enum Spread
    {
        None,
        Activity,
        Arrival,
    }

    /// <summary>A healthy idle client: answers every ping at once (its pong is any frame), sends nothing else.</summary>
    private sealed class IdleClient(Session session) : ISessionChannel
    {
        /// <summary>Header 2 + mask 4 + the ping's 12-byte payload: what a client's pong puts on the wire.</summary>
        private const int PongBytes = 6 + GatewayPing.PayloadLength;

        private static TimeProvider _clock = TimeProvider.System;

        public static long Pings { get; private set; }

        public static long Closes { get; private set; }

        public static void Reset(TimeProvider clock)
        {
            _clock = clock;
            Pings = 0;
            Closes = 0;
        }

        public bool SendPing(long timestamp)
        {
            // What SessionStream.SendPing records, then what its read of the pong records.
            session.RecordPingSent(timestamp);
            var pong = new ClientFilterResult { Frames = 1, PongTimestamp = timestamp };
            session.RecordInbound(PongBytes, pong, _clock.GetTimestamp());
            Pings++;
            return true;
        }

        public void Close(SessionEnd end, string? detail) => Closes++;

        public void Abort() => Closes++;
    }

    /// <summary>A clock moved by hand; the scheduler's own timer is never started (the benchmark ticks it).</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _timestamp = TimeSpan.TicksPerSecond;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _timestamp;

        public override DateTimeOffset GetUtcNow() => Epoch.AddTicks(_timestamp);

        public void Advance(TimeSpan by) => _timestamp += by.Ticks;

        public void AdvanceTicks(long ticks) => _timestamp += ticks;

        /// <summary>Moves to <paramref name="sinceStart"/> ticks after the clock's start, never backwards.</summary>
        public void AdvanceTo(long sinceStart) => _timestamp = Math.Max(_timestamp, TimeSpan.TicksPerSecond + sinceStart);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new NoTimer();

        private sealed class NoTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
