using System.Net.WebSockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Proxy;

/// <summary>Acceptance 3: with an HTTP/2 cluster, many client sessions share a few backend connections (RFC 8441 toward the backend).</summary>
public sealed class Http2BackendTests : IAsyncLifetime
{
    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _routeId = "";

    public async Task InitializeAsync()
    {
        _backend = await EchoBackend.StartAsync(http2: true);
        var settings = new GatewaySettings();
        var cluster = settings.Cluster("h2", http2: true, _backend.Address);
        _routeId = settings.Route("h2", "/echo", cluster);
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task FiveHundredSessions_OverH2cBackend_ShareAtMostTenConnectionsAndAllEcho()
    {
        const int Sessions = 500;
        var sockets = new ClientWebSocket[Sessions];
        try
        {
            // Open all sessions first (at most 50 handshakes in flight) so they are concurrent at the backend.
            using var gate = new SemaphoreSlim(50);
            await Task.WhenAll(Enumerable.Range(0, Sessions).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    sockets[i] = await WebSocketClient.ConnectAsync(_gateway.Ws($"/echo?id=s{i}"));
                }
                finally
                {
                    gate.Release();
                }
            }));

            Assert.Equal(Sessions, _backend.ActiveSessions);
            Assert.All(_backend.Sessions.Values, session => Assert.Equal("HTTP/2", session.Protocol));
            var metrics = await _gateway.MetricsAsync();
            Assert.Equal(Sessions, metrics.Sum("gateway_sessions_active", ("route", _routeId)));

            await Task.WhenAll(sockets.Select(async (socket, i) =>
            {
                var payload = Encoding.UTF8.GetBytes($"session {i} says hello");
                var echoed = await socket.EchoAsync(payload, WebSocketMessageType.Text);
                Assert.Equal(payload, echoed);
            }));

            Assert.InRange(_backend.ConnectionsAccepted, 1, 10);
        }
        finally
        {
            await Task.WhenAll(sockets.Where(s => s is not null).Select(s => s.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None)));
            foreach (var socket in sockets)
            {
                socket?.Dispose();
            }
        }
    }
}
