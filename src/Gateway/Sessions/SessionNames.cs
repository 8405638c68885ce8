namespace Gateway.Sessions;

/// <summary>How sessions' enums are named in metrics labels, logs and the management API (reasons: <see cref="SessionEnds"/>).</summary>
internal static class SessionNames
{
    /// <summary>Every tier's name, indexed by <see cref="SessionTier"/>.</summary>
    public static readonly string[] Tiers = ["active", "probing", "idle", "closing"];

    public static string ToTagValue(this SessionTier tier) => Tiers[(int)tier];

    public static string ToTagValue(this SessionPath path) => path == SessionPath.Lean ? "lean" : "yarp";

    public static string ToTagValue(this SessionProtocol protocol)
        => protocol == SessionProtocol.Http2ExtendedConnect ? "h2" : "http/1.1";
}
