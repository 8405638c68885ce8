namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>Configuration keys for a test gateway; route and cluster ids get a unique suffix per instance
/// so that metrics of gateways running side by side in the test process never share a series.</summary>
public sealed class GatewaySettings
{
    private static int _instances;

    public static readonly Dictionary<string, string?> LoopbackListeners = new()
    {
        ["Gateway:Server:Public:Address"] = "127.0.0.1",
        ["Gateway:Server:Public:Port"] = "0",
        ["Gateway:Server:PublicH2c:Address"] = "127.0.0.1",
        ["Gateway:Server:PublicH2c:Port"] = "0",
        ["Gateway:Server:Management:Address"] = "127.0.0.1",
        ["Gateway:Server:Management:Port"] = "0",
        // Every test client is 127.0.0.1, and many tests open hundreds of sessions at once: the per-client
        // bucket (100/s, burst 200 by default) is off unless a test sets it.
        ["Gateway:Admission:PerClient:PermitsPerSecond"] = "0",
        // Inline scheduling makes the socket engine run every socket continuation of the process on its threads
        // (a process-wide setting): in a test process, test code that blocks after an await (a polling helper, a
        // synchronous wait) would then stall every other test's sockets. The built gateway's own tests (ProcessTests,
        // DrainTests) run it with its default, inline.
        ["Gateway:Server:InlineScheduling"] = "false",
        // A test gateway stops at once (the drain's own tests set their delay and window).
        ["Gateway:Drain:Delay"] = "00:00:00",
        ["Gateway:Drain:Window"] = "00:00:00",
    };

    public GatewaySettings()
    {
        Suffix = "-" + Interlocked.Increment(ref _instances);
    }

    public string Suffix { get; }

    public Dictionary<string, string?> Values { get; } = [];

    public string this[string key]
    {
        set => Values[key] = value;
    }

    /// <summary>Adds a route matching <paramref name="path"/> (and everything below it) to a cluster; returns the route id.</summary>
    public string Route(string name, string path, string cluster)
    {
        var routeId = name + Suffix;
        Values[$"ReverseProxy:Routes:{routeId}:ClusterId"] = cluster;
        Values[$"ReverseProxy:Routes:{routeId}:Match:Path"] = path + "/{**rest}";
        return routeId;
    }

    /// <summary>Adds a cluster; returns the cluster id.</summary>
    public string Cluster(string name, params string[] destinations) => Cluster(name, http2: false, destinations);

    public string Cluster(string name, bool http2, params string[] destinations)
    {
        var clusterId = name + Suffix;
        // A cluster exists in configuration only through its keys; this one exists even without destinations.
        Values[$"ReverseProxy:Clusters:{clusterId}:LoadBalancingPolicy"] = "PowerOfTwoChoices";
        for (var i = 0; i < destinations.Length; i++)
        {
            Values[$"ReverseProxy:Clusters:{clusterId}:Destinations:d{i + 1}:Address"] = destinations[i];
        }

        if (http2)
        {
            Values[$"ReverseProxy:Clusters:{clusterId}:HttpRequest:Version"] = "2";
            Values[$"ReverseProxy:Clusters:{clusterId}:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        }

        return clusterId;
    }
}
