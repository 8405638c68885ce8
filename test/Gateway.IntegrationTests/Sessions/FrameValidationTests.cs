using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Sessions;

/// <summary>
/// Client frames are checked before any of their bytes reach a backend: oversized frames and messages get
/// 1009, protocol violations 1002, the backend a (masked) 1001, each counted; other sessions carry on. On both
/// relay paths: each checks the client's frames in its own relay.
/// </summary>
public sealed class FrameValidationTests : IAsyncLifetime
{
    // Started by each test, not by InitializeAsync: the settings depend on the path under test.
    private RawBackend _raw = null!;
    private EchoBackend _echo = null!;
    private GatewayInstance _gateway = null!;
    private string _route = "";
    private string _echoRoute = "";

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        if (_raw is not null)
        {
            await _raw.DisposeAsync();
        }

        if (_echo is not null)
        {
            await _echo.DisposeAsync();
        }
    }

    private async Task StartAsync(RelayPath path)
    {
        _raw = await RawBackend.StartAsync();
        _echo = await RelayPaths.StartEchoBackendAsync(path);
        var settings = new GatewaySettings();
        _route = settings.Route("limited", "/limited", settings.Cluster("raw", _raw.Address));
        settings[$"ReverseProxy:Routes:{_route}:Metadata:Gateway.MaxFrameSize"] = "1024";
        settings[$"ReverseProxy:Routes:{_route}:Metadata:Gateway.MaxMessageSize"] = "4096";
        // On YARP, an HTTP/2 backend leg.
        _echoRoute = settings.Route("echo", "/echo", settings.Cluster(path, "echo", _echo.Address));
        settings[$"ReverseProxy:Routes:{_echoRoute}:Metadata:Gateway.MaxFrameSize"] = "1024";
        // The raw backend, which shows every frame that reached it, speaks only HTTP/1.1: its sessions take YARP
        // with the lean path switched off.
        settings.SwitchTo(path);
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    [Theory]
    [InlineData(RelayPath.Lean)]
    [InlineData(RelayPath.Yarp)]
    public async Task OversizedFrame_Client1009_Backend1001_NoByteOfItReachesTheBackend_OtherSessionsCarryOn(RelayPath path)
    {
        await StartAsync(path);
        using var bystander = await WebSocketClient.ConnectAsync(_gateway.Ws("/limited?id=" + Guid.NewGuid().ToString("N")));
        var id = Guid.NewGuid().ToString("N");
        using var socket = await WebSocketClient.ConnectAsync(_gateway.Ws("/limited?id=" + id));
        Assert.Equal([1, 2, 3], await socket.EchoAsync([1, 2, 3], WebSocketMessageType.Binary));

        await socket.SendAsync(new byte[1025], WebSocketMessageType.Binary, true, CancellationToken.None);
        var (status, description) = await socket.ReceiveCloseAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, status);
        Assert.Equal("frame too big", description);
        var backendClose = await _raw.Session(id).Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1001, backendClose!.CloseStatus);
        Assert.True(backendClose.Masked);
        Assert.DoesNotContain(_raw.Session(id).Frames, frame => frame.Payload.Length > 1024);
        Assert.Equal([9, 9], await bystander.EchoAsync([9, 9], WebSocketMessageType.Binary));
        await Eventually.EqualAsync(1.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_frames_rejected_total", ("route", _route), ("reason", "frame_too_big")));
        await Eventually.EqualAsync(1.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("route", _route), ("reason", "message_too_big")));
        await _gateway.AssertOpenedOnAsync(path, 2, ("route", _route));
    }

    [Theory]
    [InlineData(RelayPath.Lean)]
    [InlineData(RelayPath.Yarp)]
    public async Task OversizedMessage_AcrossFragments_Client1009(RelayPath path)
    {
        await StartAsync(path);
        var id = Guid.NewGuid().ToString("N");
        using var socket = await WebSocketClient.ConnectAsync(_gateway.Ws("/limited?id=" + id));

        for (var i = 0; i < 4; i++)
        {
            await socket.SendAsync(new byte[1000], WebSocketMessageType.Binary, endOfMessage: false, CancellationToken.None);
        }

        await socket.SendAsync(new byte[200], WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        var (status, description) = await socket.ReceiveCloseAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, status);
        Assert.Equal("message too big", description);
        Assert.Equal(1001, (await _raw.Session(id).Closed.Task.WaitAsync(TimeSpan.FromSeconds(10)))!.CloseStatus);
        await Eventually.EqualAsync(1.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_frames_rejected_total", ("route", _route), ("reason", "message_too_big")));
        await _gateway.AssertOpenedOnAsync(path, 1, ("route", _route));
    }

    public static TheoryData<string, string, string, RelayPath> MalformedFrames()
    {
        var data = new TheoryData<string, string, string, RelayPath>();
        foreach (var path in new[] { RelayPath.Lean, RelayPath.Yarp })
        {
            data.Add("unmasked", "unmasked client frame", "unmasked", path);
            data.Add("rsv2", "reserved bits set without a negotiated extension", "reserved_bits", path);
            data.Add("opcode5", "unknown opcode", "unknown_opcode", path);
            data.Add("fragmentedPing", "fragmented control frame", "bad_control_frame", path);
            data.Add("orphanContinuation", "continuation frame without a message to continue", "bad_fragmentation", path);
            // RFC 6455 §7.4: codes an endpoint must not send, and a reason that is not UTF-8 (issue 14, item 5).
            data.Add("close1005", "close status code not allowed on the wire", "bad_close_status", path);
            data.Add("close999", "close status code not allowed on the wire", "bad_close_status", path);
            data.Add("close2999", "close status code not allowed on the wire", "bad_close_status", path);
            data.Add("close5000", "close status code not allowed on the wire", "bad_close_status", path);
            data.Add("closeReasonNotUtf8", "close reason is not valid UTF-8", "bad_close_reason", path);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(MalformedFrames))]
    public async Task MalformedFrame_Client1002WithTheReason_Backend1001_NothingMalformedReachesIt(string kind, string reason, string label, RelayPath path)
    {
        await StartAsync(path);
        var id = Guid.NewGuid().ToString("N");
        await using var client = await RawClient.ConnectAsync(_gateway.Ws("/limited?id=" + id));
        byte[] bad = kind switch
        {
            "unmasked" => RawFrames.Encode(RawFrame.Text, "x"u8, mask: false),
            "rsv2" => RawFrames.Encode(RawFrame.Text, "x"u8, rsv: 2),
            "opcode5" => RawFrames.Encode(5, "x"u8),
            "fragmentedPing" => RawFrames.Encode(RawFrame.Ping, "x"u8, fin: false),
            "orphanContinuation" => RawFrames.Encode(RawFrame.Continuation, "x"u8),
            "close1005" => RawFrames.CloseFrame(1005, "", mask: true),
            "close999" => RawFrames.CloseFrame(999, "low", mask: true),
            "close2999" => RawFrames.CloseFrame(2999, "unassigned", mask: true),
            "close5000" => RawFrames.CloseFrame(5000, "high", mask: true),
            "closeReasonNotUtf8" => RawFrames.Encode(RawFrame.Close, [0x03, 0xE8, 0xCE, 0xBA, 0xED, 0xA0, 0x80]),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        await client.SendAsync([.. RawFrames.Encode(RawFrame.Text, "good"u8), .. bad, .. RawFrames.Encode(RawFrame.Text, "after"u8)]);

        var frames = new List<RawFrame>();
        while (await client.ReadAsync(TimeSpan.FromSeconds(10)) is { } frame)
        {
            frames.Add(frame);
            if (frame.Opcode == RawFrame.Close)
            {
                break;
            }
        }

        var close = frames[^1];
        Assert.Equal(RawFrame.Close, close.Opcode);
        Assert.Equal(1002, close.CloseStatus);
        Assert.Equal(reason, close.CloseReason);

        var backendClose = await _raw.Session(id).Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1001, backendClose!.CloseStatus);
        var seen = _raw.Session(id).Frames.ToArray();
        Assert.Equal(["good"], seen.Where(f => f.Opcode == RawFrame.Text).Select(f => System.Text.Encoding.UTF8.GetString(f.Payload)));
        Assert.All(seen, f => Assert.True(f.Masked && f.Rsv == 0 && f.Opcode is RawFrame.Text or RawFrame.Close));
        await Eventually.EqualAsync(1.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_frames_rejected_total", ("route", _route), ("reason", label)));
        await Eventually.EqualAsync(1, () => _gateway.Logs.Entries.Count(e => e.EventId.Name == "FrameRefused" && e.Message.Contains(reason, StringComparison.Ordinal) && e.Message.Contains(_route, StringComparison.Ordinal)));
        await _gateway.AssertOpenedOnAsync(path, 1, ("route", _route));
    }

    [Theory]
    [InlineData(RelayPath.Lean, "unmasked")]
    [InlineData(RelayPath.Yarp, "unmasked")]
    [InlineData(RelayPath.Lean, "tooBig")]
    [InlineData(RelayPath.Yarp, "tooBig")]
    public async Task RefusedFrame_WhatTheBackendAnsweredBeforeStillReachesTheClient_ThenTheGatewaysClose(RelayPath path, string kind)
    {
        // The Autobahn finding (cases 3.2-3.4, 4.1.3-4.2.5, 5.15): valid frames, then a bad one in the same packet. The
        // backend's answer to the valid ones (the raw backend echoes each frame as it comes) must not be lost.
        await StartAsync(path);
        var id = Guid.NewGuid().ToString("N");
        await using var client = await RawClient.ConnectAsync(_gateway.Ws("/limited?id=" + id));
        var bad = kind == "unmasked" ? RawFrames.Encode(RawFrame.Text, "x"u8, mask: false) : RawFrames.Encode(RawFrame.Binary, new byte[1025]);
        await client.SendAsync([.. RawFrames.Encode(RawFrame.Text, "one"u8), .. RawFrames.Encode(RawFrame.Binary, new byte[1000]), .. RawFrames.Encode(RawFrame.Text, "three"u8), .. bad]);

        var frames = new List<RawFrame>();
        while (await client.ReadAsync(TimeSpan.FromSeconds(10)) is { } frame)
        {
            frames.Add(frame);
            if (frame.Opcode == RawFrame.Close)
            {
                break;
            }
        }

        Assert.Equal([RawFrame.Text, RawFrame.Binary, RawFrame.Text, RawFrame.Close], frames.Select(f => f.Opcode));
        Assert.Equal("three", System.Text.Encoding.UTF8.GetString(frames[2].Payload));
        Assert.Equal(kind == "unmasked" ? 1002 : 1009, frames[^1].CloseStatus);
        Assert.Equal(kind == "unmasked" ? "unmasked client frame" : "frame too big", frames[^1].CloseReason);
        var backendClose = await _raw.Session(id).Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1001, backendClose!.CloseStatus);
        await Eventually.EqualAsync(1.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("route", _route), ("reason", kind == "unmasked" ? "protocol_error" : "message_too_big")));
    }

    [Theory]
    [InlineData(RelayPath.Lean)]
    [InlineData(RelayPath.Yarp)]
    public async Task CompressedFrames_PassWhenTheBackendAgreedToPermessageDeflate_OtherwiseTheyAre1002(RelayPath path)
    {
        await StartAsync(path);
        var agreed = Guid.NewGuid().ToString("N");
        await using (var client = await RawClient.ConnectAsync(_gateway.Ws("/limited?id=" + agreed), "Sec-WebSocket-Extensions: permessage-deflate"))
        {
            Assert.Contains("permessage-deflate", client.ResponseHead, StringComparison.OrdinalIgnoreCase);
            await client.SendAsync(RawFrames.Encode(RawFrame.Text, "deflated"u8, rsv: 4));
            var echo = await client.ReadAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(4, echo!.Rsv);
            Assert.Single(_raw.Session(agreed).Frames, f => f.Rsv == 4);
        }

        var notAgreed = Guid.NewGuid().ToString("N");
        await using var plain = await RawClient.ConnectAsync(_gateway.Ws("/limited?id=" + notAgreed));
        await plain.SendAsync(RawFrames.Encode(RawFrame.Text, "deflated"u8, rsv: 4));
        var close = await plain.ReadAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(RawFrame.Close, close!.Opcode);
        Assert.Equal(1002, close.CloseStatus);
        Assert.DoesNotContain(_raw.Session(notAgreed).Frames, f => f.Rsv != 0);
        await _gateway.AssertOpenedOnAsync(path, 2, ("route", _route));
    }

    [Theory]
    [InlineData(RelayPath.Lean)]
    [InlineData(RelayPath.LeanHttp2Leg)]
    [InlineData(RelayPath.Yarp)]
    public async Task OversizedFrame_OverEitherBackendLeg_TheBackendStillGetsItsClose(RelayPath path)
    {
        // On YARP over an HTTP/2 backend leg: the gateway's close goes into one stream of a shared connection.
        await StartAsync(path);
        var id = Guid.NewGuid().ToString("N");
        using var socket = await WebSocketClient.ConnectAsync(_gateway.Ws("/echo?id=" + id));
        Assert.Equal([4], await socket.EchoAsync([4], WebSocketMessageType.Binary));

        await socket.SendAsync(new byte[5000], WebSocketMessageType.Binary, true, CancellationToken.None);
        var (status, _) = await socket.ReceiveCloseAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, status);
        var backendSaw = await _echo.Session(id).Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, backendSaw.Status);
        Assert.Equal("frame too big", backendSaw.Description);
        await _gateway.AssertOpenedOnAsync(path, 1, ("route", _echoRoute));
    }
}
