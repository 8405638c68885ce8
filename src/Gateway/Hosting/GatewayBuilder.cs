using Gateway.Demo;

namespace Gateway.Hosting;

/// <summary>Returned by <see cref="GatewayServiceCollectionExtensions.AddGateway"/> to add optional parts.</summary>
public interface IGatewayBuilder
{
    IServiceCollection Services { get; }

    /// <summary>Development only: an in-process echo backend on loopback and a route <c>/echo</c> to it.</summary>
    IGatewayBuilder AddDemoEchoBackend();
}

internal sealed class GatewayBuilder : IGatewayBuilder
{
    private readonly IReverseProxyBuilder _proxy;

    public GatewayBuilder(IServiceCollection services, IReverseProxyBuilder proxy)
    {
        Services = services;
        _proxy = proxy;
    }

    public IServiceCollection Services { get; }

    public IGatewayBuilder AddDemoEchoBackend()
    {
        // An empty in-memory provider next to the configuration one; the demo fills it once its port is known.
        _proxy.LoadFromMemory([], []);
        Services.AddHostedService<DemoEchoBackend>();
        return this;
    }
}
