using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Channels;
using Gateway.Frames;
using Gateway.Hosting;
using Gateway.Sessions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Benchmarks;

/// <summary>
/// <c>admin-scale</c>: does listing 100,000 sessions through the management API stall the relay? A real gateway
/// (<see cref="GatewayHost"/>, both listeners on 127.0.0.1:0) relays echo traffic between real WebSocket clients and a
/// real Kestrel echo backend at a fixed open-loop rate, while its registry also holds <c>--sessions</c> sessions
/// without sockets (a process here may not hold the descriptors of 100,000 real ones). Phase A is the echo traffic
/// alone; phase B the same traffic while one client lists every session, 1,000 a page, back to back. Each round trip
/// is timed from the moment its message was scheduled, not sent, so a stall counts for every message it held up
/// (no coordinated omission).
/// </summary>
/// <remarks>
/// Usage: <c>admin-scale [--sessions 100000] [--echo-sessions 50] [--rate 2000] [--seconds 10] [--rounds 2]
/// [--inline-scheduling true|false]</c>. The last one is <c>Gateway:Server:InlineScheduling</c> (the gateway's default,
/// true, unless given); it is a process setting, so it applies to this program's own client sockets too.
/// </remarks>
internal static class AdminScale
{
    private const int MessageBytes = 32;
    private const int PageSize = 1000;

    public static int Run(string[] args)
    {
        var sessions = 100_000;
        var echoSessions = 50;
        var rate = 2000;
        var seconds = 10;
        var rounds = 2;
        bool? inline = null;
        for (var i = 0; i < args.Length; i++)
        {
            var value = args[++i];
            switch (args[i - 1])
            {
                case "--sessions": sessions = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--echo-sessions": echoSessions = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--rate": rate = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--inline-scheduling": inline = bool.Parse(value); break;
                default: throw new ArgumentException($"Unknown option {args[i - 1]}.");
            }
        }

        return RunAsync(sessions, echoSessions, rate, seconds, rounds, inline).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int sessions, int echoSessions, int rate, int seconds, int rounds, bool? inline)
    {
        var directory = Directory.CreateTempSubdirectory("admin-scale-");
        var token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var tokenFile = Path.Combine(directory.FullName, "token");
        await File.WriteAllTextAsync(tokenFile, token);
        var backend = await StartEchoBackendAsync();
        var gateway = await StartGatewayAsync(backend.Address, tokenFile, inline);
        var listeners = gateway.Services.GetRequiredService<GatewayListeners>();
        var publicWs = new Uri($"ws://127.0.0.1:{listeners.PublicEndPoint!.Port}/echo/");
        var management = new Uri($"http://127.0.0.1:{listeners.ManagementEndPoint!.Port}");
        var inlineScheduling = gateway.Services.GetRequiredService<IConfiguration>().GetValue("Gateway:Server:InlineScheduling", new ServerOptions().InlineScheduling);
        Console.WriteLine($"admin-scale: {sessions:N0} registry sessions + {echoSessions} echo sessions, {rate:N0} messages/s of {MessageBytes} B, {seconds} s a phase, {rounds} rounds A,B; page size {PageSize}");
        Console.WriteLine($"runtime {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} cores, server GC {GCSettings.IsServerGC}, inline scheduling {inlineScheduling}");

        var clients = new ClientWebSocket[echoSessions];
        var inFlight = new ConcurrentQueue<(long Scheduled, List<double> Sink)>[echoSessions];
        var outbox = new Channel<long>[echoSessions];
        var loops = new List<Task>();
        for (var i = 0; i < echoSessions; i++)
        {
            clients[i] = new ClientWebSocket();
            await clients[i].ConnectAsync(new Uri(publicWs, $"s{i}"), CancellationToken.None);
            inFlight[i] = new ConcurrentQueue<(long, List<double>)>();
            outbox[i] = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            loops.Add(SendLoopAsync(clients[i], outbox[i].Reader));
            loops.Add(ReceiveLoopAsync(clients[i], inFlight[i]));
        }

        // The echo sessions first: admission counts the registry, and 100,000 would be above its session limit.
        var registry = gateway.Services.GetRequiredService<SessionRegistry>();
        var synthetic = OpenSyntheticSessions(registry, sessions);
        Console.WriteLine($"registry: {registry.Count:N0} live sessions");

        using var http = new HttpClient { BaseAddress = management };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        // Warm-up, not reported: tier-1 code for the relay, the listing and the client's JSON parsing.
        await RunPhaseAsync("warm-up", listing: true, Math.Min(seconds, 5), rate, inFlight, outbox, http, registry.Count);
        await Task.Delay(500);

        var results = new List<(string Phase, double[] Echo, int Listings, double[] ListingMs, double[] PageMs)>();
        for (var round = 1; round <= rounds; round++)
        {
            results.Add(await RunPhaseAsync($"A{round}", listing: false, seconds, rate, inFlight, outbox, http, registry.Count));
            await Task.Delay(500);
            results.Add(await RunPhaseAsync($"B{round}", listing: true, seconds, rate, inFlight, outbox, http, registry.Count));
            await Task.Delay(500);
        }

        Console.WriteLine();
        Console.WriteLine("| phase | echo p50 ms | p99 ms | p99.9 ms | max ms | round trips | listings | full listing p50 / max ms | page p50 / p99 / max ms |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (phase, echo, listings, listingMs, pageMs) in results)
        {
            var listingText = listingMs.Length > 0 ? $"{Percentile(listingMs, 0.5):F0} / {listingMs[^1]:F0}" : "–";
            var pageText = pageMs.Length > 0 ? $"{Percentile(pageMs, 0.5):F1} / {Percentile(pageMs, 0.99):F1} / {pageMs[^1]:F1}" : "–";
            Console.WriteLine($"| {phase} | {Percentile(echo, 0.5):F2} | {Percentile(echo, 0.99):F2} | {Percentile(echo, 0.999):F2} | {echo[^1]:F2} | {echo.Length:N0} | {listings} | {listingText} | {pageText} |");
        }

        Console.WriteLine();
        for (var round = 0; round < rounds; round++)
        {
            var a = Percentile(results[2 * round].Echo, 0.99);
            var b = Percentile(results[(2 * round) + 1].Echo, 0.99);
            Console.WriteLine($"round {round + 1}: p99 B/A = {b / a:F2}");
        }

        foreach (var session in synthetic)
        {
            registry.Close(session, SessionCloseReason.ClientClose);
        }

        foreach (var client in clients)
        {
            await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        foreach (var box in outbox)
        {
            box.Writer.Complete();
        }

        await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(10));
        await gateway.StopAsync();
        await gateway.DisposeAsync();
        await backend.App.StopAsync();
        await backend.App.DisposeAsync();
        directory.Delete(recursive: true);
        return 0;
    }

    private static async Task<(double[] Echo, int Listings, double[] ListingMs, double[] PageMs)> RunPhaseCoreAsync(
        bool listing, int seconds, int rate, ConcurrentQueue<(long Scheduled, List<double> Sink)>[] inFlight, Channel<long>[] outbox, HttpClient http, int live)
    {
        var sink = new List<double>(rate * seconds);
        using var stop = new CancellationTokenSource();
        var listingMs = new List<double>();
        var pageMs = new List<double>();
        var lister = listing ? ListLoopAsync(http, live, listingMs, pageMs, stop.Token) : Task.CompletedTask;

        // Open loop: message n is due at start + n / rate whatever happened to the ones before it.
        var start = Stopwatch.GetTimestamp();
        var total = (long)rate * seconds;
        var sent = 0L;
        while (sent < total)
        {
            var due = Math.Min(total, (Stopwatch.GetTimestamp() - start) * rate / Stopwatch.Frequency + 1);
            for (; sent < due; sent++)
            {
                var scheduled = start + (sent * Stopwatch.Frequency / rate);
                var session = (int)(sent % outbox.Length);
                inFlight[session].Enqueue((scheduled, sink));
                outbox[session].Writer.TryWrite(scheduled);
            }

            await Task.Delay(1);
        }

        await stop.CancelAsync();
        await lister;
        var deadline = Stopwatch.GetTimestamp() + (30 * Stopwatch.Frequency);
        while (Count(sink) < total)
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{total - Count(sink)} of {total} echo messages never came back.");
            }

            await Task.Delay(10);
        }

        var echo = sink.ToArray();
        Array.Sort(echo);
        var listings = listingMs.Count;
        var listingArray = listingMs.ToArray();
        var pageArray = pageMs.ToArray();
        Array.Sort(listingArray);
        Array.Sort(pageArray);
        return (echo, listings, listingArray, pageArray);
    }

    private static async Task<(string Phase, double[] Echo, int Listings, double[] ListingMs, double[] PageMs)> RunPhaseAsync(
        string phase, bool listing, int seconds, int rate, ConcurrentQueue<(long Scheduled, List<double> Sink)>[] inFlight, Channel<long>[] outbox, HttpClient http, int live)
    {
        var (echo, listings, listingMs, pageMs) = await RunPhaseCoreAsync(listing, seconds, rate, inFlight, outbox, http, live);
        Console.WriteLine($"{phase}: echo p50 {Percentile(echo, 0.5):F2} ms, p99 {Percentile(echo, 0.99):F2} ms, max {echo[^1]:F2} ms; {listings} full listings");
        return (phase, echo, listings, listingMs, pageMs);
    }

    private static int Count(List<double> sink)
    {
        lock (sink)
        {
            return sink.Count;
        }
    }

    /// <summary>Lists every session, page after page (following <c>next</c>), back to back until stopped; a listing cut short by the stop is not counted.</summary>
    private static async Task ListLoopAsync(HttpClient http, int live, List<double> listingMs, List<double> pageMs, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var listingStarted = Stopwatch.GetTimestamp();
            var listed = 0;
            long? after = null;
            do
            {
                var pageStarted = Stopwatch.GetTimestamp();
                var target = after is { } id ? $"/admin/sessions?limit={PageSize}&after={id}" : $"/admin/sessions?limit={PageSize}";
                using var response = await http.GetAsync(target, HttpCompletionOption.ResponseContentRead, CancellationToken.None);
                response.EnsureSuccessStatusCode();
                using var page = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(CancellationToken.None), cancellationToken: CancellationToken.None);
                pageMs.Add(Stopwatch.GetElapsedTime(pageStarted).TotalMilliseconds);
                listed += page.RootElement.GetProperty("sessions").GetArrayLength();
                after = page.RootElement.GetProperty("next") is { ValueKind: JsonValueKind.Number } next ? next.GetInt64() : null;
            }
            while (after is not null && !stop.IsCancellationRequested);

            if (after is null)
            {
                if (listed < live)
                {
                    throw new InvalidOperationException($"A full listing returned {listed} sessions of {live}.");
                }

                listingMs.Add(Stopwatch.GetElapsedTime(listingStarted).TotalMilliseconds);
            }
        }
    }

    private static async Task SendLoopAsync(ClientWebSocket client, ChannelReader<long> scheduled)
    {
        var payload = new byte[MessageBytes];
        await foreach (var timestamp in scheduled.ReadAllAsync())
        {
            BinaryPrimitives.WriteInt64LittleEndian(payload, timestamp);
            await client.SendAsync(payload, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        }
    }

    private static async Task ReceiveLoopAsync(ClientWebSocket client, ConcurrentQueue<(long Scheduled, List<double> Sink)> inFlight)
    {
        var buffer = new byte[MessageBytes];
        while (true)
        {
            var result = await client.ReceiveAsync(buffer, CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return;
            }

            var now = Stopwatch.GetTimestamp();
            // One sender per session and an echo in order: the reply is for the oldest message in flight.
            if (!result.EndOfMessage || !inFlight.TryDequeue(out var message) || BinaryPrimitives.ReadInt64LittleEndian(buffer) != message.Scheduled)
            {
                throw new InvalidOperationException("An echo came back out of order, split, or unasked.");
            }

            var milliseconds = (now - message.Scheduled) * 1000.0 / Stopwatch.Frequency;
            lock (message.Sink)
            {
                message.Sink.Add(milliseconds);
            }
        }
    }

    /// <summary>Registry entries without sockets, spread over routes and destinations like <see cref="ScrapeScale"/>'s; the heartbeat skips them (no channel).</summary>
    private static Session[] OpenSyntheticSessions(SessionRegistry registry, int count)
    {
        var second = TimeProvider.System.TimestampFrequency;
        var policy = new SessionRoutePolicy(new ClientFrameLimits(4 * 1024 * 1024, 16 * 1024 * 1024), heartbeat: true, 25 * second, 10 * second, 0, 5 * second, 0, 5 * second);
        var address = IPAddress.Parse("198.51.100.7");
        var sessions = new Session[count];
        for (var i = 0; i < count; i++)
        {
            sessions[i] = registry.Open(new SessionStartInfo($"route-{i % 20}", $"cluster-{i % 20}", $"d{i % 50}", address, 1024 + (i % 60000), SessionProtocol.Http11Upgrade, Policy: policy));
        }

        return sessions;
    }

    private static async Task<WebApplication> StartGatewayAsync(string backend, string tokenFile, bool? inline)
    {
        var builder = GatewayHost.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory, Args = [] });
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Server:Public:Address"] = "127.0.0.1",
            ["Gateway:Server:Public:Port"] = "0",
            ["Gateway:Server:Management:Address"] = "127.0.0.1",
            ["Gateway:Server:Management:Port"] = "0",
            ["Gateway:Admission:PerClient:PermitsPerSecond"] = "0",
            ["Gateway:Drain:Delay"] = "00:00:00",
            ["Gateway:Drain:Window"] = "00:00:00",
            ["Gateway:Management:TokenFile"] = tokenFile,
            ["ReverseProxy:Routes:echo:ClusterId"] = "echo",
            ["ReverseProxy:Routes:echo:Match:Path"] = "/echo/{**rest}",
            ["ReverseProxy:Clusters:echo:Destinations:d1:Address"] = backend,
        };
        if (inline is { } value)
        {
            settings["Gateway:Server:InlineScheduling"] = value ? "true" : "false";
        }

        builder.Configuration.AddInMemoryCollection(settings);
        // No log output: a console line per management call (and per session) would be this program's cost, not the gateway's.
        builder.Logging.ClearProviders();
        var app = GatewayHost.Build(builder);
        await app.StartAsync();
        return app;
    }

    private static async Task<(WebApplication App, string Address)> StartEchoBackendAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listener => listener.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        app.UseWebSockets();
        app.Run(async context =>
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[4096];
            try
            {
                while (true)
                {
                    var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                        return;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
                }
            }
            catch (Exception exception) when (exception is WebSocketException or OperationCanceledException or IOException)
            {
                // The gateway went away first at the end of the run.
            }
        });
        await app.StartAsync();
        return (app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    private static double Percentile(double[] sorted, double fraction) => sorted[Math.Max(0, (int)Math.Ceiling(fraction * sorted.Length) - 1)];
}
