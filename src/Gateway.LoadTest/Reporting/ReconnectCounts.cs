namespace Gateway.LoadTest.Reporting;

/// <summary>hold --reconnect: sessions reopened, by what ended the one before (<c>close_1012</c>, <c>dropped</c>, or a
/// first upgrade's failure such as <c>http_503</c>), and the time from that end to the new session's opening.</summary>
internal sealed class ReconnectCounts
{
    public long Count { get; set; }

    public SortedDictionary<string, long> ByCause { get; set; } = new(StringComparer.Ordinal);

    public LatencySummary TimeToReconnectMs { get; set; } = new();
}
