using System.Net.WebSockets;
using System.Text;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Hosting;

/// <summary>
/// Issue 5, acceptance 2: a wss:// listener from PEM files, mounted the way Kubernetes mounts a TLS Secret
/// (<c>tls.crt</c> → <c>..data/tls.crt</c>, <c>..data</c> → a timestamped directory, swapped atomically on update).
/// A rotation reaches new sessions; an open session keeps working through it.
/// </summary>
public sealed class TlsReloadTests : IAsyncLifetime
{
    private readonly string _mount = Directory.CreateTempSubdirectory("gateway-secret-").FullName;
    private EchoBackend _backend = null!;
    private GatewayInstance _gateway = null!;
    private (string CertificatePem, string KeyPem, string Thumbprint) _first;
    private int _version;

    public async Task InitializeAsync()
    {
        _backend = await EchoBackend.StartAsync();
        var settings = new GatewaySettings();
        settings.Route("echo", "/echo", settings.Cluster("echo", _backend.Address));
        settings["Gateway:Server:Public:Tls:CertificateFile"] = Path.Combine(_mount, "tls.crt");
        settings["Gateway:Server:Public:Tls:KeyFile"] = Path.Combine(_mount, "tls.key");
        settings["Gateway:Server:Public:Tls:ReloadInterval"] = "00:00:00.200";
        _first = TestCertificates.Create("first");
        UpdateSecret(_first.CertificatePem, _first.KeyPem);
        File.CreateSymbolicLink(Path.Combine(_mount, "tls.crt"), "..data/tls.crt");
        File.CreateSymbolicLink(Path.Combine(_mount, "tls.key"), "..data/tls.key");
        _gateway = await GatewayInstance.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
        Directory.Delete(_mount, recursive: true);
    }

    [Fact]
    public async Task ReplacedCertificate_ServesNewSessions_WhileAnOpenSessionKeepsWorking()
    {
        var (open, openThumbprint) = await ConnectAsync();
        using var _ = open;
        Assert.Equal(_first.Thumbprint, openThumbprint);
        await EchoAsync(open, "before rotation");

        // Half a rotation (the new certificate with the old key) must not replace a working certificate.
        var second = TestCertificates.Create("second");
        UpdateSecret(second.CertificatePem, _first.KeyPem);
        await Eventually.EqualAsync(true, () => _gateway.Logs.Entries.Any(entry => entry.EventId.Name == "CertificateReloadFailed"), TimeSpan.FromSeconds(5));
        var (during, duringThumbprint) = await ConnectAsync();
        during.Dispose();
        Assert.Equal(_first.Thumbprint, duringThumbprint);

        UpdateSecret(second.CertificatePem, second.KeyPem);
        await Eventually.EqualAsync(second.Thumbprint, async () =>
        {
            var (socket, thumbprint) = await ConnectAsync();
            using (socket)
            {
                await EchoAsync(socket, "after rotation");
            }

            return thumbprint;
        }, TimeSpan.FromSeconds(5));
        Assert.Single(_gateway.Logs.Entries, entry => entry.EventId.Name == "CertificateReloaded");

        // The session opened before the rotation never noticed it.
        Assert.Equal(WebSocketState.Open, open.State);
        await EchoAsync(open, "still here");
        await open.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    /// <summary>What the kubelet does: the new files in a fresh directory, then an atomic rename of the <c>..data</c> link.</summary>
    private void UpdateSecret(string certificatePem, string keyPem)
    {
        var version = Path.Combine(_mount, $"..v{++_version}");
        Directory.CreateDirectory(version);
        File.WriteAllText(Path.Combine(version, "tls.crt"), certificatePem);
        File.WriteAllText(Path.Combine(version, "tls.key"), keyPem);
        var link = Path.Combine(_mount, "..data_tmp");
        File.CreateSymbolicLink(link, Path.GetFileName(version));
        // rename(2) replaces the old link atomically; File.Move refuses a link to a directory.
        if (Rename(link, Path.Combine(_mount, "..data")) != 0)
        {
            throw new IOException($"rename failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename(string oldPath, string newPath);

    private async Task<(ClientWebSocket Socket, string Thumbprint)> ConnectAsync()
    {
        var socket = new ClientWebSocket();
        string? thumbprint = null;
        socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            thumbprint = certificate is null ? null : new System.Security.Cryptography.X509Certificates.X509Certificate2(certificate).Thumbprint;
            return true;
        };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(_gateway.Ws("/echo"), timeout.Token);
        return (socket, thumbprint ?? throw new InvalidOperationException("No server certificate seen."));
    }

    private static async Task EchoAsync(ClientWebSocket socket, string text)
    {
        var echoed = await socket.EchoAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);
        Assert.Equal(text, Encoding.UTF8.GetString(echoed));
    }
}
