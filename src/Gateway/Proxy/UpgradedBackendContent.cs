using System.Net;
using Gateway.Relay;

namespace Gateway.Proxy;

/// <summary>
/// The "content" of a backend's 101 on the lean path: it owns the accepted <see cref="BackendConnection"/> until the
/// session takes it, and gives YARP an empty stream, so YARP's copy loop ends at once and never holds the session.
/// If the upgrade fails after the backend's 101 (the client left, a response transform threw), YARP disposes the
/// response and with it the connection that nobody took.
/// </summary>
internal sealed class UpgradedBackendContent : HttpContent
{
    private BackendConnection? _connection;

    public UpgradedBackendContent(BackendConnection connection)
    {
        _connection = connection;
    }

    /// <summary>The accepted connection, once; null if it was taken or disposed.</summary>
    public BackendConnection? Take() => Interlocked.Exchange(ref _connection, null);

    protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult(Stream.Null);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => Task.CompletedTask;

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Take()?.Dispose();
        }

        base.Dispose(disposing);
    }
}
