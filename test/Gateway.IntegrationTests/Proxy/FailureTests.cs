using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Gateway.IntegrationTests.Proxy;

/// <summary>Acceptance 4 and the bad-input list: every failure is a prompt, clear HTTP answer, logged once.</summary>
[Collection(TimingCollection.Name)]
public sealed class FailureTests : IAsyncLifetime
{
    private readonly TcpListener _silentBackend = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _silentConnections = [];
    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private string _refusedRoute = "";
    private string _refusedAddress = "";
    private string _healthRoute = "";

    public async Task InitializeAsync()
    {
        _backend = await EchoBackend.StartAsync();
        _silentBackend.Start();
        _ = AcceptSilentlyAsync();

        var settings = new GatewaySettings();
        settings.Route("echo", "/echo", settings.Cluster("echo", _backend.Address));
        _refusedAddress = $"http://127.0.0.1:{UnusedPort()}";
        _refusedRoute = settings.Route("refused", "/refused", settings.Cluster("refused", _refusedAddress));
        settings.Route("silent", "/silent", settings.Cluster("silent", $"http://127.0.0.1:{((IPEndPoint)_silentBackend.LocalEndpoint).Port}"));
        settings.Route("empty", "/empty", settings.Cluster("empty"));

        var unhealthy = settings.Cluster("unhealthy", $"http://127.0.0.1:{UnusedPort()}");
        settings[$"ReverseProxy:Clusters:{unhealthy}:HealthCheck:Active:Enabled"] = "true";
        settings[$"ReverseProxy:Clusters:{unhealthy}:HealthCheck:Active:Interval"] = "00:00:01";
        settings[$"ReverseProxy:Clusters:{unhealthy}:HealthCheck:Active:Timeout"] = "00:00:01";
        settings[$"ReverseProxy:Clusters:{unhealthy}:HealthCheck:Active:Policy"] = "ConsecutiveFailures";
        settings[$"ReverseProxy:Clusters:{unhealthy}:HealthCheck:Active:Path"] = "/health";
        _healthRoute = settings.Route("unhealthy", "/unhealthy", unhealthy);

        settings["Gateway:Proxy:RequestTimeout"] = "00:00:01";
        settings["Gateway:Server:Limits:RequestHeadersTimeout"] = "00:00:01";
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
        _silentBackend.Stop();
        foreach (var socket in _silentConnections)
        {
            socket.Dispose();
        }
    }

    [Fact]
    public async Task UnknownPath_Answers404_ForHttpAndUpgrade()
    {
        using var client = new HttpClient();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(_gateway.Http("/no/such/route"))).StatusCode);
        var (status, _) = await WebSocketClient.FailedUpgradeAsync(_gateway.Ws("/no/such/route"));
        Assert.Equal(HttpStatusCode.NotFound, status);
    }

    [Fact]
    public async Task RefusingBackend_Answers502WithinOneSecond_AndLogsOnceWithRouteAndDestination()
    {
        var watch = Stopwatch.StartNew();
        var (status, _) = await WebSocketClient.FailedUpgradeAsync(_gateway.Ws("/refused?id=1"));
        watch.Stop();

        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"502 took {watch.Elapsed}");

        var failures = _gateway.Logs.Entries.Where(e => e.Message.Contains(_refusedRoute, StringComparison.Ordinal) && e.Level >= LogLevel.Warning).ToList();
        var failure = Assert.Single(failures);
        Assert.Equal("ForwardFailed", failure.EventId.Name);
        Assert.Contains("destination d1", failure.Message, StringComparison.Ordinal);
        Assert.Contains(_refusedAddress, failure.Message, StringComparison.Ordinal);
        Assert.Contains("answered 502", failure.Message, StringComparison.Ordinal);
        // YARP's own line for the same failure (no route, no destination) is not written as well.
        Assert.DoesNotContain(_gateway.Logs.Entries, e => e.Category.StartsWith("Yarp.ReverseProxy.Forwarder", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ManyFailedForwards_AreLoggedWithinTheBudget_TheRestCountedIntoTheNextLine()
    {
        // Issue 14, item 6: a client decides how many requests fail (plain HTTP to a backend that is down is not
        // admission-limited); the log gets at most 10 lines a second of them, the next one saying how many were left out.
        using var client = new HttpClient();
        var route = $"forward failed on route {_refusedRoute}";
        int Lines() => _gateway.Logs.Entries.Count(e => e.EventId.Name == "ForwardFailed" && e.Message.Contains(_refusedRoute, StringComparison.Ordinal));
        var before = Lines();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 60; i++)
        {
            Assert.Equal(HttpStatusCode.BadGateway, (await client.GetAsync(_gateway.Http("/refused?plain=" + i))).StatusCode);
        }

        var seconds = Math.Ceiling(clock.Elapsed.TotalSeconds);
        Assert.True(Lines() - before <= 10 * (seconds + 1), $"{Lines() - before} lines for 60 failures in {clock.Elapsed.TotalSeconds:F1} s ({route})");

        // A second later, one more failure: its line counts the ones left out.
        await Task.Delay(TimeSpan.FromSeconds(1.1));
        await client.GetAsync(_gateway.Http("/refused?plain=last"));
        var last = _gateway.Logs.Entries.Last(e => e.EventId.Name == "ForwardFailed" && e.Message.Contains(_refusedRoute, StringComparison.Ordinal));
        var written = Lines() - before;
        Assert.Contains($"({61 - written} failed forwards not logged before this one, over the budget of 10 lines a second)", last.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClusterWithoutDestinations_Answers503AtOnce()
    {
        var watch = Stopwatch.StartNew();
        var (status, _) = await WebSocketClient.FailedUpgradeAsync(_gateway.Ws("/empty"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"503 took {watch.Elapsed}");
    }

    [Fact]
    public async Task AllDestinationsUnhealthy_Answers503_InsteadOfTryingThemAnyway()
    {
        // YARP's default policy would "panic" and send to the unhealthy destination (502); the gateway's answers 503.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        HttpStatusCode status;
        IReadOnlyDictionary<string, IEnumerable<string>>? headers;
        TimeSpan elapsed;
        do
        {
            await Task.Delay(200);
            var watch = Stopwatch.StartNew();
            (status, headers) = await WebSocketClient.FailedUpgradeAsync(_gateway.Ws("/unhealthy"));
            elapsed = watch.Elapsed;
        }
        while (status != HttpStatusCode.ServiceUnavailable && DateTime.UtcNow < deadline);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.True(elapsed < TimeSpan.FromSeconds(1), $"503 took {elapsed}");
        Assert.True(int.Parse(Assert.Single(headers!["Retry-After"]), CultureInfo.InvariantCulture) >= 1);
        Assert.Contains(_gateway.Logs.Entries, e => e.EventId.Name == "ClusterUnavailable" && e.Message.Contains(_healthRoute, StringComparison.Ordinal));
    }

    [Fact]
    public async Task BackendNeverAnswersUpgrade_Answers504AfterRequestTimeout()
    {
        var watch = Stopwatch.StartNew();
        var (status, _) = await WebSocketClient.FailedUpgradeAsync(_gateway.Ws("/silent"));
        watch.Stop();

        Assert.Equal(HttpStatusCode.GatewayTimeout, status);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        Assert.Contains(_gateway.Logs.Entries, e => e.EventId.Name == "ForwardFailed" && e.Message.Contains("RequestTimedOut", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OversizedRequestHeaders_Answer431()
    {
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, _gateway.Http("/echo"));
        request.Headers.Add("X-Padding", new string('a', 40 * 1024));
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task SlowRequestHeaders_Answer408()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_gateway.PublicEndPoint);
        // Half a request head, then silence: a slowloris client.
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /echo HTTP/1.1\r\nHost: gateway\r\n"));

        var response = await ReadAllAsync(socket, TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 408", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttpRequest_OnARoute_IsProxied()
    {
        using var client = new HttpClient();
        Assert.Equal("ok /echo/page", await client.GetStringAsync(_gateway.Http("/echo/page")));
    }

    private static async Task<string> ReadAllAsync(Socket socket, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        var text = new StringBuilder();
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancel.Token);
            if (read == 0)
            {
                return text.ToString();
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
    }

    private static int UnusedPort()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    private async Task AcceptSilentlyAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _silentBackend.AcceptSocketAsync();
                lock (_silentConnections)
                {
                    _silentConnections.Add(socket);
                }
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
