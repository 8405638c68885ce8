using System.Net;
using System.Net.Sockets;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// Ports for programs that cannot report a port they chose themselves (Prometheus, HAProxy), or that must keep
/// theirs across restarts (a balancer's configuration names its servers' ports). Another process may take the port
/// between this call and its use; the callers start over or fail with the program's own error then.
/// </summary>
public static class LoopbackPorts
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
