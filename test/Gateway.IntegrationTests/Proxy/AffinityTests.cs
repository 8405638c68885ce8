using System.Net;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Proxy;

/// <summary>
/// YARP's session affinity on WebSocket upgrades, with the <c>HashCookie</c> policy (available since the gateway
/// builds on the Yarp.ReverseProxy package, which brings System.IO.Hashing): the first upgrade's answer sets the
/// cookie, and a client that sends it back reaches the same destination every time.
/// </summary>
public sealed class AffinityTests : IAsyncLifetime
{
    private const string CookieName = "gw-affinity";
    private EchoBackend _first = null!;
    private EchoBackend _second = null!;
    private GatewayInstance _gateway = null!;

    /// <summary>The HTTP/2 clients' handlers (each with its cookie container), alive as long as their sockets.</summary>
    private readonly List<HttpMessageInvoker> _invokers = [];

    public async Task InitializeAsync()
    {
        _first = await EchoBackend.StartAsync();
        _second = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("sticky", _first.Address, _second.Address);
        settings[$"ReverseProxy:Clusters:{cluster}:LoadBalancingPolicy"] = "RoundRobin";
        settings[$"ReverseProxy:Clusters:{cluster}:SessionAffinity:Enabled"] = "true";
        settings[$"ReverseProxy:Clusters:{cluster}:SessionAffinity:Policy"] = "HashCookie";
        settings[$"ReverseProxy:Clusters:{cluster}:SessionAffinity:AffinityKeyName"] = CookieName;
        settings.Route("sticky", "/sticky", cluster);
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        _invokers.ForEach(invoker => invoker.Dispose());
        await _gateway.DisposeAsync();
        await _second.DisposeAsync();
        await _first.DisposeAsync();
    }

    [Theory]
    [InlineData(ClientProtocol.Http11)]
    [InlineData(ClientProtocol.H2c)]
    public async Task HashCookie_SetByTheFirstUpgrade_KeepsEveryLaterSessionOnItsDestination(ClientProtocol protocol)
    {
        var baseUri = protocol == ClientProtocol.H2c ? _gateway.H2cWs : _gateway.PublicWs;
        var cookies = new CookieContainer();
        using var first = await ConnectAsync(new Uri(baseUri, "/sticky/first"), protocol, cookies);
        var cookie = Assert.Single(cookies.GetCookies(new Uri(_gateway.PublicHttp, "/sticky")), c => c.Name == CookieName);
        Assert.NotEmpty(cookie.Value);
        var pinned = _first.ActiveSessions == 1 ? _first : _second;
        var other = pinned == _first ? _second : _first;
        Assert.Equal(1, pinned.ActiveSessions);

        // Round robin would alternate; the cookie keeps all ten on the first session's destination.
        var sockets = new List<ClientWebSocket>();
        for (var i = 0; i < 10; i++)
        {
            sockets.Add(await ConnectAsync(new Uri(baseUri, $"/sticky/again{i}"), protocol, cookies));
            Assert.Equal([1], await sockets[^1].EchoAsync([1], WebSocketMessageType.Binary));
        }

        Assert.Equal(11, pinned.ActiveSessions);
        Assert.Equal(0, other.ActiveSessions);

        // Without it they spread.
        for (var i = 0; i < 4; i++)
        {
            sockets.Add(await ConnectAsync(new Uri(baseUri, $"/sticky/fresh{i}"), protocol, new CookieContainer()));
        }

        Assert.Equal(2, other.ActiveSessions);
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }

    private async Task<ClientWebSocket> ConnectAsync(Uri uri, ClientProtocol protocol, CookieContainer cookies)
    {
        var socket = new ClientWebSocket();
        if (protocol == ClientProtocol.H2c)
        {
            // Over HTTP/2 the handler keeps the cookies (ClientWebSocket's own container is for HTTP/1.1 only).
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            var invoker = new HttpMessageInvoker(new SocketsHttpHandler { CookieContainer = cookies });
            _invokers.Add(invoker);
            await socket.ConnectAsync(uri, invoker, CancellationToken.None);
        }
        else
        {
            socket.Options.Cookies = cookies;
            await socket.ConnectAsync(uri, CancellationToken.None);
        }

        return socket;
    }
}
