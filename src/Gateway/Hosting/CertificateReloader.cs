using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Gateway.Hosting;

/// <summary>
/// The public listener's certificate from PEM files (a Kubernetes TLS Secret mount: <c>tls.crt</c>, <c>tls.key</c>),
/// reloaded when they change. Each TLS handshake takes <see cref="Current"/>; sessions already established keep
/// the connection they have, so a rotation drops nothing.
/// </summary>
/// <remarks>
/// <para>Kestrel loads a PEM pair once (its own configuration-based reload needs <c>Kestrel:Certificates</c> and the
/// whole endpoint configuration from <c>IConfiguration</c>, which the gateway does not use), hence this class.</para>
/// <para>The files are compared by content, on one timer per listener: a Secret update swaps a symlink
/// (<c>..data</c>), which file watchers miss and which can leave a file's own timestamps unchanged. A pair that
/// does not load (the certificate already new, the key still old, in the middle of a rotation) is logged and
/// tried again at the next check; the running certificate stays until a good pair is there.</para>
/// <para>The certificate file may carry the chain after the leaf; the intermediates are sent in the handshake
/// (<see cref="SslStreamCertificateContext"/>), and the chain is never fetched from the network.</para>
/// </remarks>
internal sealed partial class CertificateReloader : IDisposable
{
    private readonly TlsOptions _options;
    private readonly ILogger _logger;
    private readonly ITimer _timer;
    private readonly Lock _checkLock = new();
    private SslStreamCertificateContext _current;
    private byte[] _certificatePem;
    private byte[] _keyPem;
    private byte[]? _failedCertificatePem;
    private byte[]? _failedKeyPem;

    public CertificateReloader(TlsOptions options, TimeProvider timeProvider, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _certificatePem = File.ReadAllBytes(options.CertificateFile);
        _keyPem = File.ReadAllBytes(options.KeyFile);
        _current = Load(_certificatePem, _keyPem);
        Log.Loaded(_logger, Leaf.Subject, Leaf.Thumbprint, Leaf.NotAfter);
        _timer = timeProvider.CreateTimer(static state => ((CertificateReloader)state!).OnTimer(), this, options.ReloadInterval, options.ReloadInterval);
    }

    public SslStreamCertificateContext Current => Volatile.Read(ref _current);

    private X509Certificate2 Leaf => Current.TargetCertificate;

    /// <summary>An exception escaping a timer callback would end the process: none does.</summary>
    private void OnTimer()
    {
        try
        {
            Check();
        }
        catch (Exception exception)
        {
            Log.CheckFailed(_logger, exception);
        }
    }

    /// <summary>Reloads the pair if either file changed; true when a new certificate is now in use.</summary>
    internal bool Check()
    {
        lock (_checkLock)
        {
            byte[] certificatePem;
            byte[] keyPem;
            try
            {
                certificatePem = File.ReadAllBytes(_options.CertificateFile);
                keyPem = File.ReadAllBytes(_options.KeyFile);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                Log.ReadFailed(_logger, _options.CertificateFile, _options.KeyFile, exception.Message);
                return false;
            }

            if (certificatePem.AsSpan().SequenceEqual(_certificatePem) && keyPem.AsSpan().SequenceEqual(_keyPem))
            {
                return false;
            }

            SslStreamCertificateContext loaded;
            try
            {
                loaded = Load(certificatePem, keyPem);
            }
            catch (Exception exception) when (exception is System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                // Once per bad pair, not at every check while it stays bad.
                if (_failedCertificatePem is null || !certificatePem.AsSpan().SequenceEqual(_failedCertificatePem) || !keyPem.AsSpan().SequenceEqual(_failedKeyPem))
                {
                    _failedCertificatePem = certificatePem;
                    _failedKeyPem = keyPem;
                    Log.ReloadFailed(_logger, _options.CertificateFile, _options.KeyFile, exception.Message, Leaf.Thumbprint);
                }

                return false;
            }

            _certificatePem = certificatePem;
            _keyPem = keyPem;
            _failedCertificatePem = null;
            _failedKeyPem = null;
            var previous = Leaf.Thumbprint;
            Volatile.Write(ref _current, loaded);
            Log.Reloaded(_logger, Leaf.Subject, Leaf.Thumbprint, Leaf.NotAfter, previous);
            return true;
        }
    }

    private static SslStreamCertificateContext Load(byte[] certificatePem, byte[] keyPem)
    {
        var certificateText = System.Text.Encoding.ASCII.GetString(certificatePem);
        var leaf = X509Certificate2.CreateFromPem(certificateText, System.Text.Encoding.ASCII.GetString(keyPem));
        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(certificateText);
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }

        return SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
    }

    public void Dispose() => _timer.Dispose();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "TLS certificate loaded: {Subject}, thumbprint {Thumbprint}, valid until {NotAfter:u}.", EventName = "CertificateLoaded")]
        public static partial void Loaded(ILogger logger, string subject, string thumbprint, DateTime notAfter);

        [LoggerMessage(2, LogLevel.Information, "TLS certificate reloaded: {Subject}, thumbprint {Thumbprint}, valid until {NotAfter:u} (was {PreviousThumbprint}). New connections use it; open ones keep theirs.", EventName = "CertificateReloaded")]
        public static partial void Reloaded(ILogger logger, string subject, string thumbprint, DateTime notAfter, string previousThumbprint);

        [LoggerMessage(3, LogLevel.Warning, "TLS certificate files {CertificateFile} and {KeyFile} changed but do not load ({Problem}); still serving {Thumbprint}, trying again at the next check.", EventName = "CertificateReloadFailed")]
        public static partial void ReloadFailed(ILogger logger, string certificateFile, string keyFile, string problem, string thumbprint);

        [LoggerMessage(4, LogLevel.Warning, "TLS certificate files {CertificateFile} and {KeyFile} cannot be read ({Problem}); the running certificate stays.", EventName = "CertificateReadFailed")]
        public static partial void ReadFailed(ILogger logger, string certificateFile, string keyFile, string problem);

        [LoggerMessage(5, LogLevel.Error, "TLS certificate check failed; the running certificate stays and the next check runs as planned.", EventName = "CertificateCheckFailed")]
        public static partial void CheckFailed(ILogger logger, Exception exception);
    }
}
