using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Gateway.IntegrationTests.Heartbeat;

/// <summary>
/// The heartbeat against real Kestrel, real clients and a backend that sees every frame: quiet clients that
/// answer pings stay, clients that stop answering are evicted on time, pings never land inside a frame, and
/// the pongs to the gateway's pings never reach the backend. Short timings (probe after 1 s, pong timeout
/// 1 s, ticks of 100 ms), so the suite runs in seconds; the Timing collection keeps neighbours from stalling it.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class HeartbeatTests : IAsyncLifetime
{
    private static readonly TimeSpan ProbeAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PongTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);

    private readonly ITestOutputHelper _output;
    private RawBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _route = "";
    private string _idleRoute = "";

    public HeartbeatTests(ITestOutputHelper output)
    {
        _output = output;
    }

    public async Task InitializeAsync()
    {
        _backend = await RawBackend.StartAsync();
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("raw", _backend.Address);
        _route = settings.Route("raw", "/raw", cluster);
        _idleRoute = settings.Route("idle", "/idle", cluster);
        settings[$"ReverseProxy:Routes:{_idleRoute}:Metadata:Gateway.IdleTimeout"] = "00:00:02";
        settings["Gateway:Heartbeat:TickInterval"] = Tick.ToString();
        settings["Gateway:Heartbeat:ProbeAfter"] = ProbeAfter.ToString();
        settings["Gateway:Heartbeat:PongTimeout"] = PongTimeout.ToString();
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Theory]
    [InlineData(ClientProtocol.Http11)]
    [InlineData(ClientProtocol.H2c)]
    public async Task QuietClientThatAnswersPings_StaysForFiveProbeIntervals_AndTheBackendNeverSeesAPong(ClientProtocol protocol)
    {
        var id = Guid.NewGuid().ToString("N");
        using var socket = await QuietClientAsync("/raw", id, protocol);
        var receive = ReceiveAllAsync(socket);

        await Task.Delay(5 * ProbeAfter);

        Assert.Equal(WebSocketState.Open, socket.State);
        Assert.False(receive.IsCompleted);
        var metrics = await _gateway.MetricsAsync();
        _output.WriteLine($"{protocol} quiet client: open after 5 s, pings {metrics.Sum("gateway_heartbeat_pings_total", ("route", _route))}, pongs consumed {metrics.Sum("gateway_heartbeat_pongs_total", ("route", _route))}");
        Assert.True(metrics.Sum("gateway_heartbeat_pings_total", ("route", _route)) >= 3, "pings sent while the client was quiet");
        Assert.True(metrics.Sum("gateway_heartbeat_pongs_total", ("route", _route)) >= 3, "pongs consumed");
        Assert.True(metrics.Sum("gateway_heartbeat_rtt_seconds_count", ("route", _route)) >= 3, "round trips measured");
        Assert.DoesNotContain(_backend.Session(id).Frames, frame => frame.Opcode is RawFrame.Pong or RawFrame.Ping);
        Assert.Equal(0, metrics.Sum("gateway_sessions_evicted_total", ("route", _route)));

        // Still a working session.
        await socket.SendAsync("still here"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var echoed = await receive.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("still here", echoed);
    }

    [Fact]
    public async Task ClientThatNeverAnswers_IsEvictedWithinProbeAfterPlusPongTimeoutPlusATick_BackendGets1001()
    {
        var id = Guid.NewGuid().ToString("N");
        await using var client = await RawClient.ConnectAsync(_gateway.Ws("/raw?id=" + id));
        var upgraded = Stopwatch.StartNew();

        var frames = new List<RawFrame>();
        while (await client.ReadAsync(TimeSpan.FromSeconds(10)) is { } frame)
        {
            frames.Add(frame);
        }

        var evictedAfter = upgraded.Elapsed;
        var bound = ProbeAfter + PongTimeout + Tick;
        _output.WriteLine($"unresponsive client: connection ended {evictedAfter.TotalMilliseconds:F0} ms after the upgrade (bound {bound.TotalMilliseconds:F0} ms)");
        Assert.True(evictedAfter <= bound + TimeSpan.FromMilliseconds(500), $"evicted after {evictedAfter.TotalMilliseconds:F0} ms; bound {bound.TotalMilliseconds:F0} ms (+500 ms for this shared machine)");
        // The probe comes up to 20 % early (each session's own share of Gateway:Heartbeat:ProbeJitter), never late.
        Assert.True(evictedAfter >= (0.8 * ProbeAfter) + PongTimeout - Tick, $"evicted too early: {evictedAfter.TotalMilliseconds:F0} ms");

        // One ping it never answered, then the best-effort close, then the connection is gone.
        Assert.Equal(RawFrame.Ping, frames[0].Opcode);
        var close = Assert.Single(frames, frame => frame.Opcode == RawFrame.Close);
        Assert.Equal(1001, close.CloseStatus);
        Assert.Equal("heartbeat timeout", close.CloseReason);

        var backendClose = await _backend.Session(id).Closed.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(backendClose);
        Assert.Equal(1001, backendClose.CloseStatus);
        Assert.True(backendClose.Masked);

        await Eventually.EqualAsync(1.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("route", _route), ("reason", "heartbeat_timeout")));
        Assert.Equal(1, (await _gateway.MetricsAsync()).Sum("gateway_sessions_evicted_total", ("route", _route), ("tier", "unresponsive")));
    }

    [Fact]
    public async Task ClientThatAnswersPingsButSendsNothing_IsClosedAfterTheRoutesIdleTimeout_BothSidesGet1001()
    {
        var id = Guid.NewGuid().ToString("N");
        using var socket = await QuietClientAsync("/idle", id);
        var started = Stopwatch.StartNew();

        var (status, description) = await socket.ReceiveCloseAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status);
        Assert.Equal("idle timeout", description);
        _output.WriteLine($"idle client: closed {started.Elapsed.TotalMilliseconds:F0} ms after the upgrade (idle timeout 2,000 ms)");
        Assert.InRange(started.Elapsed, TimeSpan.FromSeconds(1.8), TimeSpan.FromSeconds(3));
        var backendClose = await _backend.Session(id).Closed.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1001, backendClose!.CloseStatus);
        Assert.Equal("idle timeout", backendClose.CloseReason);
        await Eventually.EqualAsync(1.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_sessions_evicted_total", ("route", _idleRoute), ("tier", "idle")));
    }

    [Fact]
    public async Task BackendStreamsAFragmentedMessage_WhileTheGatewayPings_EveryFrameIsWhole_PingsFallBetweenFragments()
    {
        const int Fragments = 300;
        const int Size = 8 * 1024;
        var id = Guid.NewGuid().ToString("N");
        await using var client = await RawClient.ConnectAsync(_gateway.Ws("/raw?id=" + id));
        await client.SendAsync(RawFrames.Encode(RawFrame.Text, Encoding.UTF8.GetBytes($"stream:{Fragments}:{Size}")));

        using var message = new MemoryStream();
        var fragments = 0;
        var pingsInsideTheMessage = 0;
        while (true)
        {
            var frame = await client.ReadAsync(TimeSpan.FromSeconds(20));
            Assert.NotNull(frame);
            Assert.False(frame.Masked);
            Assert.Equal(0, frame.Rsv);
            if (frame.Opcode == RawFrame.Ping)
            {
                Assert.True(frame.Fin);
                if (fragments > 0)
                {
                    pingsInsideTheMessage++;
                }

                // Answer like a browser would: same payload, masked.
                await client.SendAsync(RawFrames.Encode(RawFrame.Pong, frame.Payload));
                continue;
            }

            if (frame.Opcode == RawFrame.Text)
            {
                Assert.Equal("done", Encoding.UTF8.GetString(frame.Payload));
                break;
            }

            Assert.Equal(fragments == 0 ? RawFrame.Binary : RawFrame.Continuation, frame.Opcode);
            Assert.Equal(fragments == Fragments - 1, frame.Fin);
            message.Write(frame.Payload);
            fragments++;
        }

        _output.WriteLine($"fragmented message: {fragments} fragments, {pingsInsideTheMessage} gateway pings between them");
        Assert.Equal(Fragments, fragments);
        Assert.Equal(RawBackend.MessageByte(Fragments * Size), message.ToArray());
        Assert.True(pingsInsideTheMessage >= 1, "the gateway pinged while the message was streaming");
        Assert.DoesNotContain(_backend.Session(id).Frames, frame => frame.Opcode == RawFrame.Pong);
    }

    [Fact]
    public async Task PingsAndPongsBetweenClientAndBackend_PassThrough_PongsToTheGatewayDoNot()
    {
        var id = Guid.NewGuid().ToString("N");
        await using var client = await RawClient.ConnectAsync(_gateway.Ws("/raw?id=" + id));
        await client.SendAsync(RawFrames.Encode(RawFrame.Ping, "to-backend"u8));
        await client.SendAsync(RawFrames.Encode(RawFrame.Text, "ping:to-client"u8));

        var gatewayPings = 0;
        var backendPings = 0;
        var backendPongs = 0;
        var until = Stopwatch.StartNew();
        while (until.Elapsed < 3.5 * ProbeAfter)
        {
            var frame = await client.ReadAsync(TimeSpan.FromSeconds(5));
            Assert.NotNull(frame);
            switch (frame.Opcode)
            {
                case RawFrame.Pong:
                    Assert.Equal("to-backend", Encoding.UTF8.GetString(frame.Payload));
                    backendPongs++;
                    break;
                case RawFrame.Ping when frame.Payload.AsSpan().SequenceEqual("to-client"u8):
                    backendPings++;
                    await client.SendAsync(RawFrames.Encode(RawFrame.Pong, frame.Payload));
                    break;
                case RawFrame.Ping:
                    gatewayPings++;
                    await client.SendAsync(RawFrames.Encode(RawFrame.Pong, frame.Payload));
                    break;
            }
        }

        _output.WriteLine($"pings: {gatewayPings} from the gateway answered and consumed, {backendPings} from the backend, {backendPongs} backend pong");
        Assert.Equal(1, backendPongs);
        Assert.Equal(1, backendPings);
        Assert.True(gatewayPings >= 2, $"gateway pings: {gatewayPings}");
        var seen = _backend.Session(id).Frames.ToArray();
        Assert.Single(seen, frame => frame.Opcode == RawFrame.Ping && frame.Payload.AsSpan().SequenceEqual("to-backend"u8));
        var pong = Assert.Single(seen, frame => frame.Opcode == RawFrame.Pong);
        Assert.Equal("to-client", Encoding.UTF8.GetString(pong.Payload));
    }

    // No keep-alive frames of its own: the only frames it sends are the automatic pongs to our pings.
    private Task<ClientWebSocket> QuietClientAsync(string path, string id, ClientProtocol protocol = ClientProtocol.Http11)
        => WebSocketClient.ConnectAsync(
            protocol == ClientProtocol.H2c ? new Uri(_gateway.H2cWs, $"{path}?id={id}") : _gateway.Ws($"{path}?id={id}"),
            protocol,
            keepAlive: TimeSpan.Zero);

    /// <summary>Keeps a receive pending (that is when ClientWebSocket answers pings); returns the first text message.</summary>
    private static async Task<string> ReceiveAllAsync(ClientWebSocket socket)
    {
        var buffer = new byte[1024];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
        return Encoding.UTF8.GetString(buffer, 0, result.Count);
    }
}
