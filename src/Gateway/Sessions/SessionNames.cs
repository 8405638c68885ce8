namespace Gateway.Sessions;

internal static class SessionNames
{
    public static string ToTagValue(this SessionPath path) => path == SessionPath.Lean ? "lean" : "yarp";

    public static string ToTagValue(this SessionProtocol protocol)
        => protocol == SessionProtocol.Http2ExtendedConnect ? "h2" : "http/1.1";
}
