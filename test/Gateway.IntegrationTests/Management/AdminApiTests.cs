using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Management;

/// <summary>
/// Issue 16, item 5: the management API on the management port, against real sessions through the gateway to real echo
/// backends. Refused without the token (401, also when none is configured), absent on the public port (404); list with
/// filters and pages, counts, close one / by client / by destination with a chosen code, and an operator's destination
/// drain; every call logged.
/// </summary>
public sealed class AdminApiTests : IAsyncLifetime
{
    private const string Token = "0123456789abcdef0123456789abcdef-test-token";
    private readonly string _tokenFile = Path.Combine(Path.GetTempPath(), $"gateway-admin-token-{Guid.NewGuid():N}");
    private readonly List<ClientWebSocket> _clients = [];
    private EchoBackend _d1 = null!;
    private EchoBackend _d2 = null!;
    private EchoBackend _other = null!;
    private GatewayInstance _gateway = null!;
    private HttpClient _http = null!;
    private string _rooms = null!;
    private string _otherId = null!;

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(_tokenFile, Token + "\n");
        _d1 = await EchoBackend.StartAsync();
        _d2 = await EchoBackend.StartAsync();
        _other = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        _rooms = settings.Route("rooms", "/rooms", settings.Cluster("rooms", _d1.Address, _d2.Address));
        _otherId = settings.Route("other", "/other", settings.Cluster("other", _other.Address));
        // Round robin: an even split over d1 and d2 the tests can count on.
        settings[$"ReverseProxy:Clusters:{_rooms}:LoadBalancingPolicy"] = "RoundRobin";
        settings["Gateway:Management:TokenFile"] = _tokenFile;
        settings["Gateway:Drain:BatchInterval"] = "00:00:00.050";
        _gateway = await GatewayInstance.StartAsync(settings);
        _http = new HttpClient { BaseAddress = _gateway.Management };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
    }

    public async Task DisposeAsync()
    {
        _clients.ForEach(static client => client.Dispose());
        _http.Dispose();
        await _gateway.DisposeAsync();
        await _d1.DisposeAsync();
        await _d2.DisposeAsync();
        await _other.DisposeAsync();
        File.Delete(_tokenFile);
    }

    [Fact]
    public async Task Admin_WithoutOrWithAWrongToken_Is401_OnThePublicPort_Is404()
    {
        using var anonymous = new HttpClient { BaseAddress = _gateway.Management };
        foreach (var path in new[] { "/admin/sessions", "/admin/sessions/counts", "/admin/no-such-call" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.StartsWith("Bearer", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }

        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/admin/sessions/close") { Content = Json(new { client = "127.0.0.1" }) };
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token[..^1] + "X");
        using (var response = await anonymous.SendAsync(wrong))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("wrong", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The right token, but on the public listener: the API is not there at all (the proxy has no such route).
        using var publicPort = new HttpClient { BaseAddress = _gateway.PublicHttp };
        publicPort.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using (var response = await publicPort.GetAsync("/admin/sessions"))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        using (var response = await _http.GetAsync("/admin/sessions"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(4, _gateway.Logs.Entries.Count(entry => entry.EventId.Name == "ManagementCallUnauthorized"));
        Assert.Contains(_gateway.Logs.Entries, entry => entry.EventId.Name == "ManagementCallUnauthorized" && entry.Message.Contains("POST /admin/sessions/close", StringComparison.Ordinal) && entry.Message.Contains("wrong", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Admin_NoTokenConfigured_EveryCallIs401()
    {
        var settings = new GatewaySettings();
        settings.Route("rooms", "/rooms", settings.Cluster("rooms", _d1.Address));
        await using var gateway = await GatewayInstance.StartAsync(settings);
        using var http = new HttpClient { BaseAddress = gateway.Management };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        using var list = await http.GetAsync("/admin/sessions");
        using var close = await http.PostAsync("/admin/sessions/close", Json(new { client = "127.0.0.1" }));

        Assert.Equal(HttpStatusCode.Unauthorized, list.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, close.StatusCode);
        Assert.Contains("no management token is configured", await close.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains(gateway.Logs.Entries, entry => entry.EventId.Name == "ManagementApiWithoutToken");
        // The probes and metrics stay open: they act on nothing.
        using var metrics = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
    }

    [Fact]
    public async Task ListSessions_FiltersPagesAndCounts_MatchTheLiveSessions()
    {
        // 6 sessions on rooms (round-robin over d1 and d2) from 127.0.0.1, 2 from 127.0.0.2, 3 on other.
        for (var i = 0; i < 6; i++)
        {
            await ConnectAsync($"/rooms/x?id=a{i}");
        }

        await ConnectAsync("/rooms/x?id=b0", IPAddress.Parse("127.0.0.2"));
        await ConnectAsync("/rooms/x?id=b1", IPAddress.Parse("127.0.0.2"));
        for (var i = 0; i < 3; i++)
        {
            await ConnectAsync($"/other/x?id=o{i}");
        }

        // Traffic on one session: its counters show it.
        Assert.Equal(new byte[10], await _clients[0].EchoAsync(new byte[10], WebSocketMessageType.Binary));
        await Eventually.EqualAsync(3, async () => (await GetAsync($"/admin/sessions?route={_otherId}")).GetProperty("matched").GetInt32());

        var all = await GetAsync("/admin/sessions");
        Assert.Equal(11, all.GetProperty("total").GetInt32());
        Assert.Equal(11, all.GetProperty("matched").GetInt32());
        var ids = Ids(all);
        Assert.Equal(ids.OrderDescending(), ids);
        Assert.Equal(JsonValueKind.Null, all.GetProperty("next").ValueKind);

        var rooms = await GetAsync($"/admin/sessions?route={_rooms}&limit=1000");
        Assert.Equal(8, rooms.GetProperty("matched").GetInt32());
        Assert.All(rooms.GetProperty("sessions").EnumerateArray(), session => Assert.Equal(_rooms, session.GetProperty("route").GetString()));
        Assert.Equal(2, (await GetAsync("/admin/sessions?client=127.0.0.2")).GetProperty("matched").GetInt32());
        Assert.Equal(2, (await GetAsync($"/admin/sessions?client=127.0.0.2&cluster={_rooms.ToUpperInvariant()}")).GetProperty("matched").GetInt32());
        Assert.Equal(0, (await GetAsync($"/admin/sessions?client=127.0.0.2&route={_otherId}")).GetProperty("matched").GetInt32());
        var onD1 = (await GetAsync($"/admin/sessions?cluster={_rooms}&destination=d1")).GetProperty("matched").GetInt32();
        var onD2 = (await GetAsync($"/admin/sessions?cluster={_rooms}&destination=d2")).GetProperty("matched").GetInt32();
        Assert.Equal((_d1.ActiveSessions, _d2.ActiveSessions), (onD1, onD2));
        Assert.Equal(8, onD1 + onD2);

        // Pages of 3, newest first, each page's `next` the `after` of the following: every session once.
        var paged = new List<long>();
        var pages = 0;
        for (long? after = null; ; pages++)
        {
            var page = await GetAsync("/admin/sessions?limit=3" + (after is { } a ? $"&after={a}" : ""));
            paged.AddRange(Ids(page));
            if (page.GetProperty("next").ValueKind == JsonValueKind.Null)
            {
                break;
            }

            after = page.GetProperty("next").GetInt64();
        }

        Assert.Equal(ids, paged);
        Assert.Equal(3, pages);

        // The session with traffic: its fields.
        var first = all.GetProperty("sessions").EnumerateArray().Single(session => session.GetProperty("clientMessages").GetInt64() == 1);
        Assert.Equal(1, first.GetProperty("backendMessages").GetInt64());
        Assert.True(first.GetProperty("clientBytes").GetInt64() >= 10 + 6);
        Assert.Equal("127.0.0.1", first.GetProperty("client").GetString());
        Assert.Equal("active", first.GetProperty("tier").GetString());
        Assert.Equal("lean", first.GetProperty("path").GetString());
        Assert.InRange(first.GetProperty("ageSeconds").GetDouble(), 0, 60);
        Assert.True(first.GetProperty("idleSeconds").GetDouble() <= first.GetProperty("ageSeconds").GetDouble());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("closing").ValueKind);
        var one = await GetAsync($"/admin/sessions/{first.GetProperty("id").GetInt64()}");
        Assert.Equal(first.GetProperty("destination").GetString(), one.GetProperty("destination").GetString());

        var counts = await GetAsync("/admin/sessions/counts");
        Assert.Equal(11, counts.GetProperty("total").GetInt32());
        Assert.Equal(8, counts.GetProperty("byRoute").GetProperty(_rooms).GetInt32());
        Assert.Equal(3, counts.GetProperty("byCluster").GetProperty(_otherId).GetInt32());
        Assert.Equal(11, counts.GetProperty("byTier").EnumerateObject().Sum(tier => tier.Value.GetInt32()));
        var destinations = counts.GetProperty("byDestination").EnumerateArray()
            .ToDictionary(entry => $"{entry.GetProperty("cluster").GetString()}/{entry.GetProperty("destination").GetString()}", entry => entry.GetProperty("sessions").GetInt32());
        Assert.Equal(new Dictionary<string, int> { [$"{_otherId}/d1"] = 3, [$"{_rooms}/d1"] = onD1, [$"{_rooms}/d2"] = onD2 }, destinations);

        Assert.Contains(_gateway.Logs.Entries, entry => entry.EventId.Name == "ManagementSessionsListed" && entry.Message.Contains("listed 2 of 2 matching sessions (11 live)", StringComparison.Ordinal));
        Assert.Contains(_gateway.Logs.Entries, entry => entry.EventId.Name == "ManagementSessionsCounted");
    }

    [Theory]
    [InlineData("/admin/sessions?limit=0", "limit")]
    [InlineData("/admin/sessions?limit=1001", "limit")]
    [InlineData("/admin/sessions?after=x", "after")]
    [InlineData("/admin/sessions?client=not-an-ip", "client")]
    [InlineData("/admin/sessions?rout=rooms", "unknown parameter 'rout'")]
    [InlineData("/admin/sessions?route=a&route=b", "once")]
    [InlineData("/admin/sessions/counts?route=rooms", "no parameters")]
    public async Task ListSessions_BadParameters_400WithTheProblem(string path, string problem)
    {
        using var response = await _http.GetAsync(path);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(problem, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains(_gateway.Logs.Entries, entry => entry.EventId.Name == "ManagementCallFailed" && entry.Message.Contains("(400)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CloseOne_ChosenCodeToTheClient_BackendToldFirst_ThenConflictAndNotFound()
    {
        var client = await ConnectAsync("/rooms/x?id=k");
        var other = await ConnectAsync("/rooms/x?id=stays");
        var id = Ids(await GetAsync("/admin/sessions")).Max() - 1; // the older of the two: "k"
        Assert.Equal([1], await client.EchoAsync([1], WebSocketMessageType.Binary));

        using var response = await _http.PostAsync($"/admin/sessions/{id}/close", Json(new { code = 4001, reason = "kicked by ops" }));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var result = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal((1, 4001, "kicked by ops"), (result.GetProperty("closing").GetInt32(), result.GetProperty("code").GetInt32(), result.GetProperty("reason").GetString()));
        Assert.Equal(((WebSocketCloseStatus)4001, "kicked by ops"), await client.ReceiveCloseAsync());
        var backend = BackendOf("k");
        Assert.Equal((WebSocketCloseStatus.EndpointUnavailable, "closed by operator"), await backend.Closed.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal([2], await other.EchoAsync([2], WebSocketMessageType.Binary));

        using var again = await _http.PostAsync($"/admin/sessions/{id}/close", null);
        Assert.True(again.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound, $"{again.StatusCode}");
        using var missing = await _http.PostAsync("/admin/sessions/987654321/close", null);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var reserved = await _http.PostAsync($"/admin/sessions/{id + 1}/close", Json(new { code = 1006 }));
        Assert.Equal(HttpStatusCode.BadRequest, reserved.StatusCode);
        using var tooLong = await _http.PostAsync($"/admin/sessions/{id + 1}/close", Json(new { reason = new string('x', 124) }));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        using var selector = await _http.PostAsync($"/admin/sessions/{id + 1}/close", Json(new { client = "127.0.0.1" }));
        Assert.Equal(HttpStatusCode.BadRequest, selector.StatusCode);
        Assert.Equal([3], await other.EchoAsync([3], WebSocketMessageType.Binary));

        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        await Eventually.EqualAsync(1.0, async () => (await _gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("reason", "operator")));
        Assert.Contains(_gateway.Logs.Entries, entry => entry.EventId.Name == "ManagementSessionsClosed" && entry.Message.Contains("with 4001 'kicked by ops'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CloseMany_ByClientOrDestination_ClosesOnlyThose_DefaultCode1000()
    {
        var fromTwo = new[] { await ConnectAsync("/rooms/x?id=c0", IPAddress.Parse("127.0.0.2")), await ConnectAsync("/other/x?id=c1", IPAddress.Parse("127.0.0.2")) };
        var local = new List<ClientWebSocket>();
        for (var i = 0; i < 4; i++)
        {
            local.Add(await ConnectAsync($"/rooms/x?id=l{i}"));
        }

        var onOther = await ConnectAsync("/other/x?id=l-other");

        using (var response = await _http.PostAsync("/admin/sessions/close", Json(new { client = "127.0.0.2", code = 1008, reason = "policy" })))
        {
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            Assert.Equal(2, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("closing").GetInt32());
        }

        foreach (var client in fromTwo)
        {
            Assert.Equal((WebSocketCloseStatus.PolicyViolation, "policy"), await client.ReceiveCloseAsync());
        }

        // All of rooms' d2: the destination's own sessions only, the default status.
        var onD2 = local.Where((_, i) => BackendOf($"l{i}") is var session && _d2.Sessions.Values.Contains(session)).ToList();
        using (var response = await _http.PostAsync("/admin/sessions/close", Json(new { cluster = _rooms, destination = "d2" })))
        {
            var result = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            Assert.Equal((onD2.Count, 1000, "closed by operator"), (result.GetProperty("closing").GetInt32(), result.GetProperty("code").GetInt32(), result.GetProperty("reason").GetString()));
        }

        Assert.NotEmpty(onD2);
        foreach (var client in onD2)
        {
            Assert.Equal((WebSocketCloseStatus.NormalClosure, "closed by operator"), await client.ReceiveCloseAsync());
        }

        foreach (var client in local.Except(onD2).Append(onOther))
        {
            Assert.Equal([7], await client.EchoAsync([7], WebSocketMessageType.Binary));
        }

        using var nothing = await _http.PostAsync("/admin/sessions/close", Json(new { route = _rooms }));
        Assert.Equal(HttpStatusCode.BadRequest, nothing.StatusCode);
        using var empty = await _http.PostAsync("/admin/sessions/close", null);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        using var typo = await _http.PostAsync("/admin/sessions/close", Json(new { client = "127.0.0.1", destinaton = "d1" }));
        Assert.Equal(HttpStatusCode.BadRequest, typo.StatusCode);
        Assert.Contains("destinaton", await typo.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        foreach (var client in local.Except(onD2).Append(onOther))
        {
            Assert.Equal([8], await client.EchoAsync([8], WebSocketMessageType.Binary));
        }
    }

    [Fact]
    public async Task Drain_OperatorDrainsADestination_1012AcrossTheWindow_NewSessionsGoElsewhere()
    {
        var clients = new List<ClientWebSocket>();
        for (var i = 0; i < 20; i++)
        {
            clients.Add(await ConnectAsync($"/rooms/x?id=r{i}"));
        }

        var onD1 = clients.Where((_, i) => _d1.Sessions.Values.Contains(BackendOf($"r{i}"))).ToList();
        Assert.Equal(10, onD1.Count);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var closes = onD1.Select(async client => (await client.ReceiveCloseAsync(), started.Elapsed)).ToArray();

        using var response = await _http.PostAsync($"/admin/destinations/{_rooms}/d1/drain", Json(new { window = "00:00:02" }));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var result = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal((10, 2.0, _d1.Address), (result.GetProperty("sessions").GetInt32(), result.GetProperty("windowSeconds").GetDouble(), result.GetProperty("address").GetString()));
        // New sessions meanwhile go to d2: the balancer skips the destination being drained.
        for (var i = 0; i < 6; i++)
        {
            clients.Add(await ConnectAsync($"/rooms/x?id=n{i}"));
            Assert.Contains(BackendOf($"n{i}"), _d2.Sessions.Values);
        }

        var ends = await Task.WhenAll(closes).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.All(ends, end => Assert.Equal(((WebSocketCloseStatus)1012, "service restart"), end.Item1));
        Assert.True(ends.Max(end => end.Elapsed) - ends.Min(end => end.Elapsed) > TimeSpan.FromSeconds(1), "the closes were spread across the window");
        using var again = await _http.PostAsync($"/admin/destinations/{_rooms}/d1/drain", null);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        using var unknown = await _http.PostAsync($"/admin/destinations/{_rooms}/d9/drain", null);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var tooLong = await _http.PostAsync($"/admin/destinations/{_rooms}/d2/drain", Json(new { window = "02:00:00" }));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Contains(_gateway.Logs.Entries, entry => entry.EventId.Name == "DestinationDrainStartedByOperator");
        Assert.Contains(_gateway.Logs.Entries, entry => entry.EventId.Name == "ManagementDestinationDrained");
    }

    private BackendSession BackendOf(string id)
        => _d1.Sessions.TryGetValue(id, out var session) || _d2.Sessions.TryGetValue(id, out session) || _other.Sessions.TryGetValue(id, out session)
            ? session
            : throw new InvalidOperationException($"No backend saw session {id}.");

    private async Task<ClientWebSocket> ConnectAsync(string pathAndQuery, IPAddress? source = null)
    {
        ClientWebSocket client;
        if (source is null)
        {
            client = await WebSocketClient.ConnectAsync(_gateway.Ws(pathAndQuery));
        }
        else
        {
            client = new ClientWebSocket();
            using var invoker = new HttpMessageInvoker(new SocketsHttpHandler
            {
                ConnectCallback = async (context, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    socket.Bind(new IPEndPoint(source, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            });
            await client.ConnectAsync(_gateway.Ws(pathAndQuery), invoker, CancellationToken.None);
        }

        _clients.Add(client);
        var id = pathAndQuery[(pathAndQuery.IndexOf("id=", StringComparison.Ordinal) + 3)..];
        await Eventually.EqualAsync(true, () => _d1.Sessions.ContainsKey(id) || _d2.Sessions.ContainsKey(id) || _other.Sessions.ContainsKey(id));
        return client;
    }

    private async Task<JsonElement> GetAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static long[] Ids(JsonElement page) => [.. page.GetProperty("sessions").EnumerateArray().Select(session => session.GetProperty("id").GetInt64())];

    private static StringContent Json(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
}
