using System.Net.WebSockets;
using Gateway.LoadTest;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Reporting;
using Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace Gateway.Tests.LoadTest;

/// <summary>
/// <c>hold --reconnect</c> against a real Kestrel WebSocket server that ends its first sessions: five with a 1013
/// close whose reason asks for a retry after 3 s, five by dropping the connection, and refuses one upgrade with 503
/// and <c>Retry-After: 3</c>. Every client comes back, each after the delay its cause allows.
/// </summary>
public sealed class HoldReconnectTests
{
    [Fact]
    public async Task Hold_WithReconnect_ReopensEverySession_HonouringTheHints_AndReportsCausesTimesAndTheSeries()
    {
        var accepted = 0;
        var upgrades = 0;
        await using var server = await WebSocketTestServer.StartAsync(async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = 404;
                return;
            }

            // The 11th upgrade, the first of the reconnects, is refused with a hint.
            if (Interlocked.Increment(ref upgrades) == 11)
            {
                context.Response.StatusCode = 503;
                context.Response.Headers.RetryAfter = "3";
                return;
            }

            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var number = Interlocked.Increment(ref accepted);
            var buffer = new byte[1024];
            var receive = socket.ReceiveAsync(buffer, CancellationToken.None);
            if (number <= 10)
            {
                await Task.Delay(300);
                if (number <= 5)
                {
                    await socket.CloseOutputAsync((WebSocketCloseStatus)1013, "Try Again Later; retry after 3 s", CancellationToken.None);
                }
                else
                {
                    context.Abort();
                    return;
                }
            }

            try
            {
                while (!(await receive).CloseStatus.HasValue)
                {
                    receive = socket.ReceiveAsync(buffer, CancellationToken.None);
                }

                if (socket.State == WebSocketState.CloseReceived)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                }
            }
            catch (WebSocketException)
            {
            }
        });
        var result = await RunAsync(new LoadTestOptions
        {
            Command = LoadTestCommand.Hold,
            Url = new Uri($"ws://127.0.0.1:{server.Port}/hold"),
            Sessions = 10,
            Ramp = 0,
            Hold = TimeSpan.FromSeconds(8),
            Duration = TimeSpan.FromSeconds(30),
            Reconnect = true,
            ReconnectBase = TimeSpan.FromMilliseconds(200),
            ReconnectCap = TimeSpan.FromSeconds(1),
        });

        var reconnects = result.Reconnects!;
        Assert.Equal(10, reconnects.Count);
        Assert.Equal(5, reconnects.ByCause["close_1013"]);
        Assert.Equal(5, reconnects.ByCause["dropped"]);
        Assert.Equal(1, result.Failures["http_503"]);
        Assert.Equal(10, result.Sessions.OpenAtEnd);
        Assert.Equal(20, result.Sessions.Opened);
        // A dropped session comes back within its first backoff (≤ 0.2 s, plus the upgrade), but the one whose
        // upgrade was refused waits out the Retry-After (3 s); a 1013 one not before its hint (3 s). So four fast
        // reconnects (well under the hints even on a loaded machine), then six of at least 3 s.
        var times = Gateway.LoadTest.Metrics.LogLinearHistogram.FromData(result.Histograms.ReconnectTimeUs!);
        Assert.True(times.ValueAtPercentile(40) < 2_500_000, $"4th fastest reconnect {times.ValueAtPercentile(40)} µs");
        Assert.True(times.ValueAtPercentile(50) >= 2_980_000, $"5th fastest reconnect {times.ValueAtPercentile(50)} µs");
        // One sample a second: fewer than ten open while the hinted ones wait out their 3 s, ten again after.
        Assert.InRange(result.OpenPerSecond.Count, 7, 20);
        Assert.Contains(result.OpenPerSecond, open => open < 10);
        Assert.Equal(10, result.OpenPerSecond.Max());
    }

    /// <summary>
    /// <c>echo --reconnect</c>: the server echoes, and ends each client's first session with 1012 after 300 ms. The
    /// clients come back and go on numbering their messages: none is lost inside a connection or duplicated; what the
    /// closes cut is counted apart.
    /// </summary>
    [Fact]
    public async Task Echo_WithReconnect_NumbersMessagesAcrossSessions_NoneLostOrDuplicated()
    {
        var accepted = 0;
        await using var server = await WebSocketTestServer.StartAsync(async context =>
        {
            await EchoAsync(context, closeAt: Interlocked.Increment(ref accepted) <= 4 ? DateTime.UtcNow.AddMilliseconds(300) : DateTime.MaxValue);
        });
        var result = await RunAsync(new LoadTestOptions
        {
            Command = LoadTestCommand.Echo,
            Url = new Uri($"ws://127.0.0.1:{server.Port}/echo"),
            Sessions = 4,
            Rate = 400,
            Size = 32,
            Duration = TimeSpan.FromSeconds(3),
            Reconnect = true,
            ReconnectBase = TimeSpan.FromMilliseconds(100),
            ReconnectCap = TimeSpan.FromSeconds(1),
        });

        Assert.Equal(4, result.Reconnects!.ByCause["close_1012"]);
        Assert.Equal(4, result.Sessions.OpenAtEnd);
        var messages = result.Messages!;
        Assert.Equal(0, messages.Lost);
        Assert.Equal(0, messages.Duplicated);
        // Every message sent was echoed, or cut by a close, or (between sessions) not sent at all.
        Assert.Equal(messages.Sent, messages.Received + messages.LostInClose);
        // The load goes on across the reconnects (at least half the scheduled messages echoed, even on a loaded box).
        Assert.True(messages.Received >= messages.Requested / 2, $"{messages.Received} of {messages.Requested} echoed");

    }

    /// <summary>Every client has its first session from the first message on: none finds no session to go on.</summary>
    [Fact]
    public async Task Echo_WithReconnect_FromTheFirstMessage_EveryMessageFindsASession()
    {
        await using var server = await WebSocketTestServer.StartAsync(context => EchoAsync(context, closeAt: DateTime.MaxValue));
        var result = await RunAsync(new LoadTestOptions
        {
            Command = LoadTestCommand.Echo,
            Url = new Uri($"ws://127.0.0.1:{server.Port}/echo"),
            Sessions = 50,
            Rate = 2000,
            Size = 32,
            Duration = TimeSpan.FromSeconds(1),
            Reconnect = true,
        });

        Assert.Empty(result.Failures);
        Assert.Equal(2000, result.Messages!.Sent);
        Assert.Equal(2000, result.Messages.Received);
    }

    /// <summary>Runs the command in this process, as the tool's own entry does, and reads back its JSON result.</summary>
    private static async Task<LoadTestResult> RunAsync(LoadTestOptions options)
    {
        var json = Path.GetTempFileName();
        try
        {
            Assert.Equal(0, await LoadTestRunner.RunAsync(options with { JsonFile = json }, [], CancellationToken.None));
            return LoadTestResult.FromJson(await File.ReadAllTextAsync(json));
        }
        finally
        {
            File.Delete(json);
        }
    }

    /// <summary>Echoes every message; closes with 1012 at the first message past <paramref name="closeAt"/>.</summary>
    private static async Task EchoAsync(HttpContext context, DateTime closeAt)
    {
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.CloseStatus.HasValue)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, CancellationToken.None);
                if (DateTime.UtcNow >= closeAt)
                {
                    await socket.CloseAsync((WebSocketCloseStatus)1012, "service restart", CancellationToken.None);
                    return;
                }
            }
        }
        catch (WebSocketException)
        {
        }
    }
}
