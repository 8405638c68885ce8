using System.Net.WebSockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Sessions;

/// <summary>
/// Clients whose connections end without a close frame, one after another, over both kinds of backend leg. Kestrel
/// reports such an end as an abort and YARP then cancels the relay; HttpClient answers a cancelled read by dropping
/// the backend connection at once. Each backend must still get the close 1001 "client went away", after the
/// client's last message. This raced (about one session in fifty on a loaded machine) before the backend leg
/// watched the relay's cancellation itself.
/// </summary>
public sealed class ClientAbortTests : IAsyncLifetime
{
    private const int Sessions = 60;

    private EchoBackend _h1 = null!;
    private EchoBackend _h2 = null!;
    private GatewayInstance _gateway = null!;
    private string _route1 = "";
    private string _route2 = "";

    public async Task InitializeAsync()
    {
        _h1 = await EchoBackend.StartAsync();
        _h2 = await EchoBackend.StartAsync(http2: true);
        var settings = new GatewaySettings();
        _route1 = settings.Route("h1", "/h1", settings.Cluster("h1", _h1.Address));
        _route2 = settings.Route("h2", "/h2", settings.Cluster("h2", http2: true, _h2.Address));
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _h1.DisposeAsync();
        await _h2.DisposeAsync();
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task EveryBackendGets1001ClientWentAway_WhetherTheClientSendsAFinOrAReset(bool http2Backend, bool reset)
    {
        var (backend, path, route) = http2Backend ? (_h2, "/h2", _route2) : (_h1, "/h1", _route1);
        var before = (await _gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("route", route), ("reason", "client_lost"));
        var wrong = new List<string>();
        for (var i = 0; i < Sessions; i++)
        {
            var id = $"{(reset ? "rst" : "fin")}-{i}";
            var client = await RawClient.ConnectAsync(_gateway.Ws($"{path}?id={id}"));
            await client.SendAsync(RawFrames.Encode(RawFrame.Text, Encoding.UTF8.GetBytes("last words " + i)));
            var echo = await client.ReadAsync(TimeSpan.FromSeconds(5));
            Assert.Equal("last words " + i, Encoding.UTF8.GetString(echo!.Payload));
            await (reset ? client.ResetAsync() : client.DisposeAsync());

            var session = backend.Session(id);
            var (status, description) = await session.Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
            if (status != WebSocketCloseStatus.EndpointUnavailable || description != "client went away")
            {
                wrong.Add($"{id}: {status?.ToString() ?? "no close"} '{description}'");
            }

            Assert.Equal(1, session.Messages);
        }

        Assert.Empty(wrong);
        await Eventually.EqualAsync(before + Sessions, async () => (await _gateway.MetricsAsync()).Sum("gateway_sessions_closed_total", ("route", route), ("reason", "client_lost")));
    }
}
