using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.IntegrationTests.Proxy;

/// <summary>
/// Issue 16, item 4: the <c>ConsistentHash</c> load-balancing policy, keyed here by a route value
/// (<c>/rooms/{room}</c>): every session of a room reaches the same backend, over HTTP/1.1 and HTTP/2, and the
/// rooms spread over the backends. A wrong key specification stops the start.
/// </summary>
public sealed class ConsistentHashTests : IAsyncLifetime
{
    private readonly EchoBackend[] _backends = new EchoBackend[3];
    private GatewayInstance _gateway = null!;
    private string _hotCluster = "";

    public async Task InitializeAsync()
    {
        for (var i = 0; i < _backends.Length; i++)
        {
            _backends[i] = await EchoBackend.StartAsync();
        }

        var settings = new GatewaySettings();
        var cluster = settings.Cluster("rooms", [.. _backends.Select(backend => backend.Address)]);
        settings[$"ReverseProxy:Clusters:{cluster}:LoadBalancingPolicy"] = "ConsistentHash";
        settings[$"ReverseProxy:Clusters:{cluster}:Metadata:Gateway.HashKey"] = "route:room";
        var route = settings.Route("rooms", "/rooms", cluster);
        settings[$"ReverseProxy:Routes:{route}:Match:Path"] = "/rooms/{room}/{**rest}";
        _hotCluster = settings.Cluster("hot", [.. _backends.Select(backend => backend.Address)]);
        settings[$"ReverseProxy:Clusters:{_hotCluster}:LoadBalancingPolicy"] = "ConsistentHash";
        settings[$"ReverseProxy:Clusters:{_hotCluster}:Metadata:Gateway.HashKey"] = "query:room";
        settings[$"ReverseProxy:Clusters:{_hotCluster}:Metadata:Gateway.HashBalanceFactor"] = "1.25";
        settings.Route("hot", "/hot", _hotCluster);
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }
    }

    [Fact]
    public async Task EverySessionOfARoom_ReachesOneBackend_RoomsSpread()
    {
        const int Rooms = 12;
        var sockets = new List<ClientWebSocket>();
        try
        {
            for (var room = 0; room < Rooms; room++)
            {
                for (var member = 0; member < 4; member++)
                {
                    // Alternately over HTTP/1.1 (the lean path) and h2c.
                    var http2 = member % 2 == 1;
                    var uri = new Uri(http2 ? _gateway.H2cWs : _gateway.PublicWs, $"/rooms/room-{room}/chat?id=room-{room}-{member}");
                    var socket = await WebSocketClient.ConnectAsync(uri, http2 ? ClientProtocol.H2c : ClientProtocol.Http11);
                    sockets.Add(socket);
                    Assert.Equal([7], await socket.EchoAsync([7], WebSocketMessageType.Binary));
                }
            }

            var homes = Enumerable.Range(0, Rooms)
                .Select(room => Enumerable.Range(0, 4)
                    .Select(member => Array.FindIndex(_backends, backend => backend.Sessions.ContainsKey($"room-{room}-{member}")))
                    .Distinct()
                    .ToList())
                .ToList();
            Assert.All(homes, home => Assert.NotEqual(-1, Assert.Single(home)));
            Assert.True(homes.Select(home => home[0]).Distinct().Count() >= 2, "twelve rooms all on one of three backends");
        }
        finally
        {
            sockets.ForEach(socket => socket.Dispose());
        }
    }

    [Fact]
    public async Task HotRoom_WithABalanceFactor_OverflowsToOtherBackends_AndTheCountsMatchTheSessions()
    {
        const int Members = 30;
        var sockets = new List<ClientWebSocket>();
        try
        {
            for (var member = 0; member < Members; member++)
            {
                var http2 = member % 2 == 1;
                var uri = new Uri(http2 ? _gateway.H2cWs : _gateway.PublicWs, $"/hot/chat?room=lobby&id=hot-{member}");
                sockets.Add(await WebSocketClient.ConnectAsync(uri, http2 ? ClientProtocol.H2c : ClientProtocol.Http11));
            }

            var perBackend = _backends.Select(backend => backend.Sessions.Keys.Count(id => id.StartsWith("hot-", StringComparison.Ordinal))).ToArray();
            Assert.Equal(Members, perBackend.Sum());
            // None above 1.25 × the average (10), rounded up: two backends hold 26 at most, so the room needs all three.
            Assert.All(perBackend, count => Assert.InRange(count, 0, 13));
            Assert.True(perBackend.Count(count => count > 0) >= 3, string.Join(", ", perBackend));

            // The policy's counts are the sessions: every placement's pending count passed to its session.
            var loads = _gateway.Services.GetRequiredService<Gateway.Balancing.DestinationLoads>();
            Assert.Equal(perBackend, new[] { "d1", "d2", "d3" }.Select(id => loads.Of(_hotCluster, id)).ToArray());
        }
        finally
        {
            sockets.ForEach(socket => socket.Dispose());
        }
    }

    [Fact]
    public async Task UnknownHashKeySpec_IsAStartupError()
    {
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("bad", _backends[0].Address);
        settings[$"ReverseProxy:Clusters:{cluster}:LoadBalancingPolicy"] = "ConsistentHash";
        settings[$"ReverseProxy:Clusters:{cluster}:Metadata:Gateway.HashKey"] = "path:room";
        settings.Route("bad", "/bad", cluster);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => GatewayInstance.StartAsync(settings));

        Assert.Contains("Gateway.HashKey", error.ToString(), StringComparison.Ordinal);
    }
}
