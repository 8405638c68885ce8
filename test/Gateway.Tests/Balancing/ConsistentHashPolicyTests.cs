using System.Net;
using Gateway.Balancing;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace Gateway.Tests.Balancing;

/// <summary>Where the key comes from (<c>Gateway.HashKey</c>), and what a request without it gets.</summary>
public sealed class ConsistentHashPolicyTests
{
    private static readonly DestinationState[] Destinations = [.. Enumerable.Range(1, 5).Select(i => new DestinationState($"d{i}"))];
    private readonly SessionRegistry _registry = TestServices.Registry();
    private readonly DestinationLoads _loads;
    private readonly ConsistentHashPolicy _policy;

    public ConsistentHashPolicyTests()
    {
        _loads = new DestinationLoads(_registry);
        _policy = new ConsistentHashPolicy(_loads);
    }

    [Theory]
    [InlineData("header:X-Room")]
    [InlineData("query:room")]
    [InlineData("route:room")]
    [InlineData("cookie:room")]
    public void KeyFromTheRequest_SameValueSameDestination_FromAnyClient(string spec)
    {
        var cluster = Cluster(spec);
        var picks = Enumerable.Range(0, 50)
            .Select(i => _policy.PickDestination(Request(spec, "lobby", $"10.0.0.{i}"), cluster, Destinations)!.DestinationId)
            .Distinct()
            .ToList();
        Assert.Single(picks);

        var rooms = Enumerable.Range(0, 200).Select(i => _policy.PickDestination(Request(spec, $"room-{i}", "10.0.0.1"), cluster, Destinations)!.DestinationId).Distinct();
        Assert.Equal(5, rooms.Count());
    }

    [Fact]
    public void NoKeyInTheRequest_HashesTheClientAddress()
    {
        var cluster = Cluster("header:X-Room");
        var bare = new DefaultHttpContext();
        bare.Connection.RemoteIpAddress = IPAddress.Parse("10.1.2.3");
        var mapped = new DefaultHttpContext();
        mapped.Connection.RemoteIpAddress = IPAddress.Parse("10.1.2.3").MapToIPv6();

        var byAddress = _policy.PickDestination(bare, cluster, Destinations);

        Assert.Same(byAddress, _policy.PickDestination(bare, Cluster("client"), Destinations));
        Assert.Same(byAddress, _policy.PickDestination(mapped, cluster, Destinations));
        var clients = Enumerable.Range(0, 200).Select(i => _policy.PickDestination(Request("client", "", $"10.0.{i}.1"), Cluster("client"), Destinations)!.DestinationId).Distinct();
        Assert.Equal(5, clients.Count());
    }

    [Fact]
    public void OneOrNoDestination_NeedsNoKey()
    {
        var cluster = Cluster("header:X-Room");
        Assert.Null(_policy.PickDestination(new DefaultHttpContext(), cluster, []));
        Assert.Same(Destinations[2], _policy.PickDestination(new DefaultHttpContext(), cluster, [Destinations[2]]));
    }

    [Fact]
    public async Task BoundedLoad_AHotKeyOverflowsToItsNextDestinations_NoneAboveTheFactor()
    {
        var cluster = Cluster("header:X-Room", ("Gateway.HashBalanceFactor", "1.25"));
        var probe = Request("header", "hot", "10.0.0.1");
        var first = _policy.PickDestination(probe, cluster, Destinations)!;
        await Started(probe);

        // 100 sessions of one room, one after another: unbounded, all on one destination; bounded, spread in the key's
        // hash order with none above 1.25 × the average (rounded up) when it was placed.
        var placed = new List<string>();
        for (var i = 0; i < 100; i++)
        {
            var loads = Destinations.ToDictionary(d => d.DestinationId, d => Load(d.DestinationId));
            var request = Request("header", "hot", "10.0.0.1");
            var destination = _policy.PickDestination(request, cluster, Destinations)!;
            Assert.True(loads[destination.DestinationId] + 1 <= Math.Ceiling(1.25 * (loads.Values.Sum() + 1) / Destinations.Length));
            // The backend's 101: the placement's count passes to the session's.
            await Started(request);
            _registry.Open(new SessionStartInfo("r", "c", destination.DestinationId, IPAddress.Loopback, 1, SessionProtocol.Http11Upgrade));
            placed.Add(destination.DestinationId);
        }

        Assert.Equal(first.DestinationId, placed[0]);
        // Each holds at most a quarter (1.25 × a fifth): the room fills four destinations and never a fifth alone.
        Assert.All(Destinations, d => Assert.InRange(Load(d.DestinationId), 0, 25));
        Assert.True(Destinations.Count(d => Load(d.DestinationId) > 0) >= 4);
        Assert.Equal(100, Enumerable.Range(0, 100).Count(_ => _policy.PickDestination(Request("header", "hot", "10.0.0.1"), Cluster("header:X-Room"), Destinations) == first));
    }

    [Fact]
    public async Task BoundedLoad_CountsUpgradesStillInTheirHandshake_UntilTheirAnswerStarts()
    {
        var cluster = Cluster("header:X-Room", ("Gateway.HashBalanceFactor", "1.25"));

        // 100 upgrades of one room at once: none has its answer yet, and still none lands above the bound.
        var requests = Enumerable.Range(0, 100).Select(_ => Request("header", "hot", "10.0.0.1")).ToList();
        var placed = requests.Select(request => _policy.PickDestination(request, cluster, Destinations)!.DestinationId).ToList();

        Assert.All(Destinations, d => Assert.InRange(Load(d.DestinationId), 0, 25));
        Assert.True(placed.Distinct().Count() >= 4);

        // Answered (or failed: the request's end releases them too), they count no more.
        foreach (var request in requests)
        {
            await Started(request);
        }

        Assert.All(Destinations, d => Assert.Equal(0, Load(d.DestinationId)));
    }

    [Fact]
    public void PendingPlacement_ReleasedOnce()
    {
        var count = new System.Runtime.CompilerServices.StrongBox<int>(3);
        var placement = new PendingPlacement(count);
        Assert.Equal(4, count.Value);

        placement.Dispose();
        placement.Dispose();

        Assert.Equal(3, count.Value);
    }

    [Fact]
    public void BoundedLoad_ClosedSessionsLeaveTheCount()
    {
        var cluster = Cluster("client", ("Gateway.HashBalanceFactor", "1.5"));
        var sessions = Enumerable.Range(0, 10)
            .Select(_ => _registry.Open(new SessionStartInfo("r", "c", "d3", IPAddress.Loopback, 1, SessionProtocol.Http11Upgrade)))
            .ToList();
        Assert.Equal(10, Load("d3"));

        sessions.ForEach(session => _registry.Close(session, SessionCloseReason.ClientClose));

        Assert.Equal(0, Load("d3"));
        Assert.NotNull(_policy.PickDestination(Request("client", "", "10.0.0.9"), cluster, Destinations));
    }

    [Theory]
    [InlineData(null, "Client", "")]
    [InlineData("client", "Client", "")]
    [InlineData(" Header : X-Room ", "Header", "X-Room")]
    [InlineData("QUERY:room", "Query", "room")]
    [InlineData("route:room", "Route", "room")]
    [InlineData("cookie:sid", "Cookie", "sid")]
    public void Parse_Valid(string? spec, string source, string name)
    {
        var key = ConsistentHashSettings.Parse(spec is null ? null : new Dictionary<string, string> { [ConsistentHashSettings.KeyMetadata] = spec }, out var errors);

        Assert.Empty(errors);
        Assert.Equal(source, key.Source.ToString());
        Assert.Equal(name, key.Name);
    }

    [Theory]
    [InlineData("header")]
    [InlineData("header:")]
    [InlineData("path:room")]
    [InlineData("ip")]
    public void Parse_Invalid_SaysWhatIsAllowed(string spec)
    {
        ConsistentHashSettings.Parse(new Dictionary<string, string> { [ConsistentHashSettings.KeyMetadata] = spec }, out var errors);

        Assert.Contains("'header:NAME'", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("0.8")]
    [InlineData("many")]
    [InlineData("Infinity")]
    public void Parse_BalanceFactorNotAboveOne_IsAnError(string factor)
    {
        var settings = ConsistentHashSettings.Parse(new Dictionary<string, string> { [ConsistentHashSettings.BalanceFactorMetadata] = factor }, out var errors);

        Assert.Contains("not a number above 1", Assert.Single(errors), StringComparison.Ordinal);
        Assert.Null(settings.BalanceFactor);
    }

    private int Load(string destination) => _loads.Of("c", destination);

    private static ClusterState Cluster(string spec, params (string Key, string Value)[] more)
    {
        var metadata = new Dictionary<string, string> { [ConsistentHashSettings.KeyMetadata] = spec };
        foreach (var (key, value) in more)
        {
            metadata[key] = value;
        }

        return new("c", new ClusterModel(new ClusterConfig { ClusterId = "c", Metadata = metadata }, new HttpMessageInvoker(new HttpClientHandler())));
    }

    /// <summary>Runs what the request registered for the start of its answer (a 101), as Kestrel would.</summary>
    private static Task Started(DefaultHttpContext context) => ((StartableResponse)context.Features.Get<IHttpResponseFeature>()!).StartAsync();

    private static DefaultHttpContext Request(string spec, string value, string client)
    {
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpResponseFeature>(new StartableResponse());
        context.Connection.RemoteIpAddress = IPAddress.Parse(client);
        switch (spec.Split(':')[0])
        {
            case "header":
                context.Request.Headers["X-Room"] = value;
                break;
            case "query":
                context.Request.QueryString = new QueryString("?room=" + value);
                break;
            case "route":
                context.Request.RouteValues = new RouteValueDictionary { ["room"] = value };
                break;
            case "cookie":
                context.Request.Headers.Cookie = "room=" + value;
                break;
        }

        return context;
    }

    /// <summary>A response feature that keeps its OnStarting callbacks (the default one drops them).</summary>
    private sealed class StartableResponse : HttpResponseFeature
    {
        private readonly List<(Func<object, Task> Callback, object State)> _starting = [];

        public override void OnStarting(Func<object, Task> callback, object state) => _starting.Add((callback, state));

        public async Task StartAsync()
        {
            foreach (var (callback, state) in _starting)
            {
                await callback(state);
            }

            _starting.Clear();
        }
    }
}
