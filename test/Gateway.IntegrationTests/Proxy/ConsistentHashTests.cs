using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

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
