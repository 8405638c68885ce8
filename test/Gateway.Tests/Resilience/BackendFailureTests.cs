using System.Net.Sockets;
using Gateway.Resilience;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Tests.Resilience;

public sealed class BackendFailureTests
{
    public static TheoryData<ForwarderError?, Exception?, int, string> Cases => new()
    {
        { null, null, 101, "none" },
        { null, null, 404, "none" },
        { null, null, 500, "status_5xx" },
        { null, null, 503, "status_5xx" },
        { ForwarderError.Request, new HttpRequestException(HttpRequestError.ConnectionError, "refused", new SocketException((int)SocketError.ConnectionRefused)), 502, "connect_refused" },
        { ForwarderError.RequestTimedOut, new TaskCanceledException("connect", new TimeoutException()), 504, "connect_timeout" },
        { ForwarderError.Request, new HttpRequestException(HttpRequestError.ConnectionError, "unreachable", new SocketException((int)SocketError.NetworkUnreachable)), 502, "connect_error" },
        { ForwarderError.Request, new HttpRequestException(HttpRequestError.ResponseEnded, "ended"), 502, "handshake_error" },
        { ForwarderError.RequestTimedOut, new TaskCanceledException("activity"), 504, "handshake_timeout" },
        // The client leaving, or YARP having no destination, is never the backend's fault.
        { ForwarderError.RequestCanceled, new TaskCanceledException(), 400, "none" },
        { ForwarderError.NoAvailableDestinations, null, 503, "none" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Classify_NamesWhatWentWrong(ForwarderError? error, Exception? exception, int status, string expected)
        => Assert.Equal(expected, BackendFailures.Classify(error, exception, status).ToTagValue());

    [Fact]
    public void OnlyConnectFailures_MayBeRetriedElsewhere()
    {
        var retryable = Enum.GetValues<BackendFailure>().Where(f => f.IsConnectFailure()).ToHashSet();
        Assert.Equal([BackendFailure.ConnectRefused, BackendFailure.ConnectTimeout, BackendFailure.ConnectError], retryable);
    }
}
