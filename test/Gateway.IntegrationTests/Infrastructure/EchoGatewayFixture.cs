namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>An HTTP/1.1 echo backend behind a gateway with a route <c>/echo</c>.</summary>
public class EchoGatewayFixture : IAsyncLifetime
{
    public EchoBackend Backend { get; private set; } = null!;

    public GatewayInstance Gateway { get; private set; } = null!;

    public string RouteId { get; private set; } = "";

    public string ClusterId { get; private set; } = "";

    public virtual async Task InitializeAsync()
    {
        Backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        ClusterId = settings.Cluster("echo", Backend.Address);
        RouteId = settings.Route("echo", "/echo", ClusterId);
        Configure(settings);
        Gateway = await GatewayInstance.StartAsync(settings);
    }

    public virtual async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Backend.DisposeAsync();
    }

    protected virtual void Configure(GatewaySettings settings)
    {
    }
}

/// <summary>The same with TLS on the public listener (wss://, and h2 through ALPN), from PEM files as a Kubernetes secret mounts them.</summary>
public sealed class TlsEchoGatewayFixture : EchoGatewayFixture
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gateway-tls-").FullName;

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    protected override void Configure(GatewaySettings settings)
    {
        var (certificatePem, keyPem, _) = TestCertificates.Create();
        var certificateFile = Path.Combine(_directory, "tls.crt");
        var keyFile = Path.Combine(_directory, "tls.key");
        File.WriteAllText(certificateFile, certificatePem);
        File.WriteAllText(keyFile, keyPem);
        settings["Gateway:Server:Public:Tls:CertificateFile"] = certificateFile;
        settings["Gateway:Server:Public:Tls:KeyFile"] = keyFile;
    }
}
