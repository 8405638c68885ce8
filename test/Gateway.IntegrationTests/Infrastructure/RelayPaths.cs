namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>Puts an HTTP/1.1 client's session on one <see cref="RelayPath"/> and checks that it really took it.</summary>
public static class RelayPaths
{
    /// <summary>The value of the session metrics' <c>path</c> label.</summary>
    public static string Label(this RelayPath path) => path == RelayPath.Yarp ? "yarp" : "lean";

    /// <summary>The backend leg is HTTP/2 (RFC 8441 to an h2c backend).</summary>
    public static bool Http2Leg(this RelayPath path) => path != RelayPath.Lean;

    /// <summary>An echo backend for <see cref="Cluster"/>: h2c for an HTTP/2 leg, HTTP/1.1 otherwise.</summary>
    public static Task<EchoBackend> StartEchoBackendAsync(RelayPath path, int port = 0) => EchoBackend.StartAsync(http2: path.Http2Leg(), port);

    /// <summary>
    /// Adds a cluster whose backend leg puts HTTP/1.1 clients' sessions on <paramref name="path"/> (for YARP, the lean
    /// path is switched off for the whole gateway, as <see cref="SwitchTo"/> does). Its destinations must speak the
    /// same protocol (<see cref="StartEchoBackendAsync"/>).
    /// </summary>
    public static string Cluster(this GatewaySettings settings, RelayPath path, string name, params string[] destinations)
    {
        settings.SwitchTo(path);
        return settings.Cluster(name, http2: path.Http2Leg(), destinations);
    }

    /// <summary>
    /// For backends that speak only HTTP/1.1 (<see cref="RawBackend"/>, <see cref="FaultyBackend"/>): YARP by switching
    /// the lean path off for the whole gateway (<c>Gateway:Sessions:LeanPath</c>); the lean paths leave the defaults.
    /// </summary>
    public static void SwitchTo(this GatewaySettings settings, RelayPath path)
    {
        if (path == RelayPath.Yarp)
        {
            settings["Gateway:Sessions:LeanPath"] = "false";
        }
    }

    /// <summary>
    /// Asserts that <paramref name="sessions"/> sessions were opened in <paramref name="scope"/> (route or cluster
    /// labels), all of them on <paramref name="path"/>: a test meant for one path that silently ran on the other
    /// would prove nothing about it.
    /// </summary>
    public static async Task AssertOpenedOnAsync(this GatewayInstance gateway, RelayPath path, int sessions, params (string Name, string Value)[] scope)
    {
        var other = path == RelayPath.Yarp ? RelayPath.Lean : RelayPath.Yarp;
        // Counted once the client's side has switched protocols, which a client may see a moment before.
        await Eventually.EqualAsync((double)sessions, async () => (await gateway.MetricsAsync()).Sum("gateway_sessions_opened_total", [.. scope, ("path", path.Label())]));
        Assert.Equal(0, (await gateway.MetricsAsync()).Sum("gateway_sessions_opened_total", [.. scope, ("path", other.Label())]));
    }
}
