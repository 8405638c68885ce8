using System.Net.Sockets;
using Gateway.Hosting;
using Gateway.Proxy;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace Gateway.Tests.Hosting;

public sealed class SocketBufferOptionsTests
{
    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    [InlineData(4095)]
    [InlineData((16 * 1024 * 1024) + 1)]
    [InlineData(int.MaxValue)]
    public void Validate_SizeOutsideBoundsOnEitherLeg_FailsNamingTheField(int size)
    {
        var server = new ServerOptions();
        server.SocketBuffers.SendBufferSize = size;
        server.SocketBuffers.ReceiveBufferSize = size;
        var proxy = new ProxyOptions();
        proxy.SocketBuffers.SendBufferSize = size;
        proxy.SocketBuffers.ReceiveBufferSize = size;

        var serverResult = new ServerOptionsValidator().Validate(null, server);
        var proxyResult = new ProxyOptionsValidator().Validate(null, proxy);

        foreach (var (result, type) in new[] { (serverResult, "ServerOptions"), (proxyResult, "ProxyOptions") })
        {
            Assert.True(result.Failed);
            Assert.Equal(2, result.Failures!.Count());
            Assert.Contains(result.Failures!, f => f.Contains($"{type}.SocketBuffers.SendBufferSize must be 0 (kernel autotuning) or between 4096 and 16777216 bytes", StringComparison.Ordinal));
            Assert.Contains(result.Failures!, f => f.Contains($"{type}.SocketBuffers.ReceiveBufferSize must be 0 (kernel autotuning) or between 4096 and 16777216 bytes", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData(SocketBufferOptions.Autotuned)]
    [InlineData(SocketBufferOptions.MinSize)]
    [InlineData(64 * 1024)]
    [InlineData(SocketBufferOptions.MaxSize)]
    public void Validate_AutotunedOrSizeWithinBounds_Succeeds(int size)
    {
        var server = new ServerOptions();
        server.SocketBuffers.SendBufferSize = size;
        server.SocketBuffers.ReceiveBufferSize = size;

        Assert.True(new ServerOptionsValidator().Validate(null, server).Succeeded);
    }

    [Fact]
    public void Build_BadSizesOnBothLegs_ReportsEveryOneOfThem()
    {
        var builder = GatewayHost.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gateway:Server:SocketBuffers:SendBufferSize"] = "1000",
            ["Gateway:Server:SocketBuffers:ReceiveBufferSize"] = "1073741824",
            ["Gateway:Proxy:SocketBuffers:SendBufferSize"] = "lots",
        });

        var problems = Assert.Throws<GatewayConfigurationException>(() => GatewayHost.Build(builder)).Problems;

        Assert.Contains(problems, p => p.StartsWith("Gateway:Server:", StringComparison.Ordinal) && p.Contains("SendBufferSize must be 0", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Gateway:Server:", StringComparison.Ordinal) && p.Contains("ReceiveBufferSize must be 0", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Gateway:Proxy:SocketBuffers:SendBufferSize", StringComparison.Ordinal));
    }

    [Fact]
    public void Defaults_CapTheClientSendAndBothBackendDirections()
    {
        var client = new ServerOptions().SocketBuffers;
        var backend = new ProxyOptions().SocketBuffers;

        Assert.Equal((64 * 1024, SocketBufferOptions.Autotuned), (client.SendBufferSize, client.ReceiveBufferSize));
        Assert.Equal((64 * 1024, 64 * 1024), (backend.SendBufferSize, backend.ReceiveBufferSize));
    }

    [Fact]
    public void Apply_Sizes_TheKernelReservesTwiceThem()
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);

        new SocketBufferOptions { SendBufferSize = 32 * 1024, ReceiveBufferSize = 48 * 1024 }.Apply(socket);

        // Linux doubles what is set (socket(7)).
        Assert.Equal((64 * 1024, 96 * 1024), (socket.SendBufferSize, socket.ReceiveBufferSize));
    }

    [Fact]
    public void Apply_Autotuned_LeavesTheKernelsDefaults()
    {
        using var untouched = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);

        new SocketBufferOptions().Apply(socket);

        Assert.Equal((untouched.SendBufferSize, untouched.ReceiveBufferSize), (socket.SendBufferSize, socket.ReceiveBufferSize));
    }

    [Fact]
    public void Describe_ReportsTheSettingAndWhatTheKernelMadeOfIt()
    {
        var (send, receive) = new SocketBufferOptions { SendBufferSize = 65536 }.Describe();

        Assert.Equal("65536 (kernel 131072)", send);
        Assert.Equal("autotuned", receive);
    }
}
