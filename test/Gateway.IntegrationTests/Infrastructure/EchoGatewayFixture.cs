namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>An HTTP/1.1 echo backend behind a gateway with a route <c>/echo</c> (h2c with <see cref="RelayPath"/> YARP).</summary>
public class EchoGatewayFixture : IAsyncLifetime
{
    /// <summary>
    /// The path of HTTP/1.1 clients' sessions: YARP gives the cluster an h2c backend and an HTTP/2 leg. HTTP/2
    /// clients' sessions take YARP either way.
    /// </summary>
    public RelayPath RelayPath { get; init; } = RelayPath.Lean;

    public EchoBackend Backend { get; private set; } = null!;

    public GatewayInstance Gateway { get; private set; } = null!;

    public string RouteId { get; private set; } = "";

    public string ClusterId { get; private set; } = "";

    public virtual async Task InitializeAsync()
    {
        Backend = await RelayPaths.StartEchoBackendAsync(RelayPath);
        var settings = new GatewaySettings();
        ClusterId = settings.Cluster(RelayPath, "echo", Backend.Address);
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
