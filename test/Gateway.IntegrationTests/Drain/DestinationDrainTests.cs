using System.Diagnostics;
using System.Net.WebSockets;
using Gateway.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace Gateway.IntegrationTests.Drain;

/// <summary>
/// Issue 16, item 3: a destination that leaves its cluster's configuration (a reload, as an endpoints change would
/// be) has its sessions closed 1012 across the destination drain window, each backend connection told first; the
/// clients reconnect to the remaining destination; other clusters' sessions are not touched. Clients over HTTP/1.1
/// (the lean path) and h2c (the YARP path).
/// </summary>
public sealed class DestinationDrainTests : IAsyncDisposable
{
    private const int Sessions = 200;
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(8);
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"gateway-destination-drain-{Guid.NewGuid():N}.json");

    [Theory]
    [InlineData(ClientProtocol.Http11)]
    [InlineData(ClientProtocol.H2c)]
    public async Task RemovedDestination_SessionsClosed1012AcrossTheWindow_BackendFirst_ReconnectElsewhere(ClientProtocol protocol)
    {
        await using var leaving = await EchoBackend.StartAsync();
        await using var arriving = await EchoBackend.StartAsync();
        await using var bystander = await EchoBackend.StartAsync();
        WriteConfig(("d1", leaving.Address), bystander.Address);
        var settings = new GatewaySettings();
        settings.Route("rooms", "/rooms", "rooms");
        settings.Route("other", "/other", "other");
        settings["Gateway:Drain:DestinationWindow"] = Window.ToString("c");
        settings["Gateway:Drain:BatchInterval"] = "00:00:00.100";
        // The h2c clients share one connection: room for all their streams.
        settings["Gateway:Server:Limits:MaxStreamsPerConnection"] = "1000";
        await using var gateway = await GatewayInstance.StartAsync(settings, configure: config => config.AddJsonFile(_file, optional: false, reloadOnChange: true));

        var clients = new ClientWebSocket[Sessions];
        for (var i = 0; i < Sessions; i++)
        {
            clients[i] = await ConnectAsync(gateway, $"/rooms/x?id=r{i}", protocol);
        }

        var others = new ClientWebSocket[10];
        for (var i = 0; i < others.Length; i++)
        {
            others[i] = await WebSocketClient.ConnectAsync(gateway.Ws($"/other/x?id=o{i}"));
        }

        Assert.Equal(Sessions, leaving.ActiveSessions);
        var clock = Stopwatch.StartNew();
        var closes = clients.Select(client => CloseOf(client, clock)).ToArray();

        // The deploy: d1 goes, d2 comes.
        WriteConfig(("d2", arriving.Address), bystander.Address);
        var results = await Task.WhenAll(closes).WaitAsync(Window + TimeSpan.FromSeconds(20));

        Assert.All(results, result => Assert.Equal(((WebSocketCloseStatus)1012, "service restart"), (result.Status, result.Description)));
        // Spread across the window: each quarter of it (from the first close) holds about a quarter of the closes.
        var first = results.Min(result => result.At);
        var quarters = results.GroupBy(result => Math.Min(3, (int)((result.At - first) / (Window / 4)))).ToDictionary(group => group.Key, group => group.Count());
        Assert.All(Enumerable.Range(0, 4), quarter => Assert.InRange(quarters.GetValueOrDefault(quarter), Sessions / 4 - 20, Sessions / 4 + 20));
        // Each backend connection was told first (1001), and answered; none was cut.
        for (var i = 0; i < Sessions; i++)
        {
            var (status, description) = await leaving.Session($"r{i}").Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal((WebSocketCloseStatus.EndpointUnavailable, "going away"), (status, description));
        }

        // They come back on the destination that remains; the other cluster's sessions never noticed.
        for (var i = 0; i < Sessions; i++)
        {
            clients[i].Dispose();
            clients[i] = await ConnectAsync(gateway, $"/rooms/x?id=again{i}", protocol);
        }

        Assert.Equal(Sessions, arriving.ActiveSessions);
        foreach (var other in others)
        {
            Assert.Equal([5], await other.EchoAsync([5], WebSocketMessageType.Binary));
        }

        var metrics = await gateway.MetricsAsync();
        Assert.Equal(Sessions, metrics.Sum("gateway_sessions_closed_total", ("reason", "destination_drain")));
        Assert.Contains(gateway.Logs.Entries, entry => entry.EventId.Name == "DestinationDrainCompleted" && entry.Message.Contains($"{Sessions} sessions", StringComparison.Ordinal));
        foreach (var socket in clients.Concat(others))
        {
            socket.Dispose();
        }
    }

    private static Task<ClientWebSocket> ConnectAsync(GatewayInstance gateway, string pathAndQuery, ClientProtocol protocol)
        => WebSocketClient.ConnectAsync(new Uri(protocol == ClientProtocol.H2c ? gateway.H2cWs : gateway.PublicWs, pathAndQuery), protocol);

    public ValueTask DisposeAsync()
    {
        File.Delete(_file);
        return ValueTask.CompletedTask;
    }

    private static async Task<(WebSocketCloseStatus? Status, string? Description, TimeSpan At)> CloseOf(ClientWebSocket client, Stopwatch clock)
    {
        var (status, description) = await client.ReceiveCloseAsync();
        var at = clock.Elapsed;
        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        return (status, description, at);
    }

    private void WriteConfig((string Id, string Address) rooms, string other)
        => File.WriteAllText(_file, $$"""
            { "ReverseProxy": { "Clusters": {
                "rooms": { "Destinations": { "{{rooms.Id}}": { "Address": "{{rooms.Address}}" } } },
                "other": { "Destinations": { "o1": { "Address": "{{other}}" } } } } } }
            """);
}
