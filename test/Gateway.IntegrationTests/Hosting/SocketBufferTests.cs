using System.Text;
using Gateway.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Gateway.IntegrationTests.Hosting;

/// <summary>
/// Socket buffer sizes of both legs, read from the kernel: getsockopt(2) on the gateway's own sockets (the test gateway
/// is in this process), and the queues of /proc/net/tcp while a client that never reads is flooded by its backend.
/// </summary>
public sealed class SocketBufferTests(ITestOutputHelper output)
{
    private const int KiB = 1024;

    /// <summary>More than every buffer between the backend and the client can take: the flood always stalls.</summary>
    private const long Flood = 1L << 30;

    /// <summary>The largest segment the kernel builds (GSO), what one write may queue beyond the send buffer.</summary>
    private const int MaxSegment = 64 * KiB;

    [Theory]
    [InlineData(RelayPath.Lean)]
    [InlineData(RelayPath.LeanHttp2Leg)]
    [InlineData(RelayPath.Yarp)]
    public async Task ConfiguredSizes_AreAppliedToTheGatewaysSocketsOnBothLegs(RelayPath path)
    {
        await using var backend = await RelayPaths.StartEchoBackendAsync(path);
        var settings = new GatewaySettings();
        settings.Route("echo", "/echo", settings.Cluster(path, "echo", backend.Address));
        // Four different sizes: each read-back shows which setting reached which socket.
        settings["Gateway:Server:SocketBuffers:SendBufferSize"] = (32 * KiB).ToString();
        settings["Gateway:Server:SocketBuffers:ReceiveBufferSize"] = (48 * KiB).ToString();
        settings["Gateway:Proxy:SocketBuffers:SendBufferSize"] = (40 * KiB).ToString();
        settings["Gateway:Proxy:SocketBuffers:ReceiveBufferSize"] = (56 * KiB).ToString();
        await using var gateway = await GatewayInstance.StartAsync(settings);

        await using var client = await RawClient.ConnectAsync(gateway.Ws("/echo"));
        await client.SendAsync(RawFrames.Encode(RawFrame.Text, "hello"u8));
        Assert.NotNull(await client.ReadAsync(TimeSpan.FromSeconds(10)));
        await gateway.AssertOpenedOnAsync(path, 1);

        // Linux reports twice what was set (the other half is its bookkeeping overhead, socket(7)).
        var clientLeg = KernelSockets.Connection(c => c.LocalPort == gateway.PublicEndPoint.Port && c.RemotePort == client.LocalEndPoint.Port);
        Assert.Equal((2 * 32 * KiB, 2 * 48 * KiB), KernelSockets.BufferSizes(clientLeg));
        var backendLeg = KernelSockets.Connection(c => c.RemotePort == backend.Port);
        Assert.Equal((2 * 40 * KiB, 2 * 56 * KiB), KernelSockets.BufferSizes(backendLeg));
    }

    [Theory]
    [InlineData(RelayPath.Lean)]
    [InlineData(RelayPath.LeanHttp2Leg)]
    public async Task ClientThatNeverReads_PinsNoMoreThanTheConfiguredBuffers(RelayPath path)
    {
        await using var backend = await RelayPaths.StartEchoBackendAsync(path);
        var settings = new GatewaySettings();
        settings.Route("echo", "/echo", settings.Cluster(path, "echo", backend.Address));
        settings["Gateway:Server:SocketBuffers:SendBufferSize"] = (64 * KiB).ToString();
        settings["Gateway:Proxy:SocketBuffers:ReceiveBufferSize"] = (64 * KiB).ToString();
        await using var gateway = await GatewayInstance.StartAsync(settings);

        var (clientLeg, backendLeg) = await FloodAClientThatNeverReadsAsync(gateway, backend);
        output.WriteLine($"Stalled: client socket's send queue {clientLeg.SendQueue} B, backend socket's receive queue {backendLeg.ReceiveQueue} B.");

        // What a slow reader pins in the gateway's kernel: the client socket's send queue and the backend socket's
        // receive queue, each within what the kernel reserves for the configured size (twice it). A write that finds
        // the send queue below its limit may still append one whole segment (up to 64 KiB) past it.
        Assert.InRange(clientLeg.SendQueue, 1, (2 * 64 * KiB) + MaxSegment);
        Assert.InRange(backendLeg.ReceiveQueue, 0, 2 * 64 * KiB);
    }

    [Fact]
    public async Task ClientThatNeverReads_WithTheDefaults_PinsNoMoreThanTheDefaultBuffers()
    {
        await using var backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        settings.Route("echo", "/echo", settings.Cluster("echo", backend.Address));
        await using var gateway = await GatewayInstance.StartAsync(settings);

        var (clientLeg, backendLeg) = await FloodAClientThatNeverReadsAsync(gateway, backend);
        output.WriteLine($"Stalled: client socket's send queue {clientLeg.SendQueue} B, backend socket's receive queue {backendLeg.ReceiveQueue} B.");

        Assert.InRange(clientLeg.SendQueue, 1, (2 * new Gateway.Hosting.ServerOptions().SocketBuffers.SendBufferSize) + MaxSegment);
        Assert.InRange(backendLeg.ReceiveQueue, 0, 2 * new Gateway.Proxy.ProxyOptions().SocketBuffers.ReceiveBufferSize);
    }

    [Fact]
    public async Task Start_LogsWhatTheKernelAppliedInOneLine()
    {
        var settings = new GatewaySettings();
        settings["Gateway:Proxy:SocketBuffers:SendBufferSize"] = "0";
        settings["Gateway:Proxy:SocketBuffers:ReceiveBufferSize"] = "100000";
        await using var gateway = await GatewayInstance.StartAsync(settings);

        var line = Assert.Single(gateway.Logs.Entries, entry => entry.EventId.Name == "SocketBuffers");
        Assert.Equal("Socket buffers in bytes: client send 65536 (kernel 131072), receive autotuned; backend send autotuned, receive 100000 (kernel 200000)", line.Message);
    }

    /// <summary>The control: with autotuning (0) the same client pins megabytes, which is what the defaults prevent.</summary>
    [Fact]
    public async Task ClientThatNeverReads_WithAutotuning_PinsMegabytes()
    {
        await using var backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        settings.Route("echo", "/echo", settings.Cluster("echo", backend.Address));
        settings["Gateway:Server:SocketBuffers:SendBufferSize"] = "0";
        await using var gateway = await GatewayInstance.StartAsync(settings);

        var (clientLeg, _) = await FloodAClientThatNeverReadsAsync(gateway, backend);
        output.WriteLine($"Stalled: client socket's send queue {clientLeg.SendQueue} B.");

        Assert.True(clientLeg.SendQueue > 1024 * KiB, $"The autotuned send queue held only {clientLeg.SendQueue} bytes.");
    }

    /// <summary>
    /// A client asks its backend for a gigabyte and reads none of it; returns the gateway's two sockets of the session
    /// once the flood has stalled (its client socket's send queue full, the client's receive window closed).
    /// </summary>
    private static async Task<(KernelConnection ClientLeg, KernelConnection BackendLeg)> FloodAClientThatNeverReadsAsync(GatewayInstance gateway, EchoBackend backend)
    {
        await using var client = await RawClient.ConnectAsync(gateway.Ws("/echo"));
        await client.SendAsync(RawFrames.Encode(RawFrame.Text, Encoding.ASCII.GetBytes($"cmd:flood:{Flood}")));

        var port = client.LocalEndPoint.Port;
        var clientLeg = await KernelSockets.StalledAsync(c => c.LocalPort == gateway.PublicEndPoint.Port && c.RemotePort == port);
        var backendLeg = KernelSockets.Connection(c => c.RemotePort == backend.Port);
        return (clientLeg, backendLeg);
    }
}
