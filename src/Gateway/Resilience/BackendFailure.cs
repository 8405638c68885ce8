using System.Net.Sockets;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Resilience;

/// <summary>How an upgrade attempt failed the backend's side of the bargain; what a breaker counts.</summary>
internal enum BackendFailure : byte
{
    /// <summary>The backend answered (any status below 500), or the attempt ended for the client's reasons.</summary>
    None,

    /// <summary>Nothing listens at the destination's address.</summary>
    ConnectRefused,

    /// <summary>The TCP (or TLS) connect did not finish within <c>Gateway:Proxy:ConnectTimeout</c>.</summary>
    ConnectTimeout,

    /// <summary>Connecting failed otherwise (unreachable, reset during connect, TLS handshake failed).</summary>
    ConnectError,

    /// <summary>The connection was made, but the backend broke it before answering the upgrade.</summary>
    HandshakeError,

    /// <summary>The backend answered the upgrade with a 5xx status.</summary>
    Status5xx,

    /// <summary>The backend did not answer within the cluster's handshake timeout.</summary>
    HandshakeTimeout,

    /// <summary>The backend accepted the session and dropped it, without a close frame, within the early-abort window.</summary>
    EarlyAbort,
}

internal static class BackendFailures
{
    public static string ToTagValue(this BackendFailure failure) => failure switch
    {
        BackendFailure.ConnectRefused => "connect_refused",
        BackendFailure.ConnectTimeout => "connect_timeout",
        BackendFailure.ConnectError => "connect_error",
        BackendFailure.HandshakeError => "handshake_error",
        BackendFailure.Status5xx => "status_5xx",
        BackendFailure.HandshakeTimeout => "handshake_timeout",
        BackendFailure.EarlyAbort => "early_abort",
        _ => "none",
    };

    /// <summary>Nothing reached the backend: another destination may be tried for the same upgrade.</summary>
    public static bool IsConnectFailure(this BackendFailure failure)
        => failure is BackendFailure.ConnectRefused or BackendFailure.ConnectTimeout or BackendFailure.ConnectError;

    /// <summary>
    /// The request reached the backend, so the client may have caused the failure: an upgrade crafted to make the
    /// backend answer 500, hang or break off, frames that make it drop the session. What fails before anything of the
    /// client's reached a backend (a connect failure) it cannot cause.
    /// </summary>
    public static bool IsClientProvokable(this BackendFailure failure)
        => failure != BackendFailure.None && !failure.IsConnectFailure();

    /// <summary>Classifies a forward that ended before any session started.</summary>
    public static BackendFailure Classify(ForwarderError? error, Exception? exception, int statusCode)
    {
        if (error is null or ForwarderError.None)
        {
            return statusCode >= 500 ? BackendFailure.Status5xx : BackendFailure.None;
        }

        if (error is not (ForwarderError.Request or ForwarderError.RequestTimedOut))
        {
            // The client went away, a header could not be copied, no destination was left: not the backend's doing.
            return BackendFailure.None;
        }

        for (var inner = exception; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case SocketException { SocketErrorCode: SocketError.ConnectionRefused }:
                    return BackendFailure.ConnectRefused;
                case SocketException { SocketErrorCode: SocketError.TimedOut }:
                case TimeoutException:
                    return BackendFailure.ConnectTimeout;
            }
        }

        if (exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError })
        {
            return BackendFailure.ConnectError;
        }

        return error == ForwarderError.RequestTimedOut ? BackendFailure.HandshakeTimeout : BackendFailure.HandshakeError;
    }
}
