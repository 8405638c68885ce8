using System.Collections.Concurrent;

namespace Gateway.LoadTest.Metrics;

/// <summary>The live counters of one process's run: written by every session concurrently, read by the progress
/// display and, at the end, turned into a <see cref="Reporting.LoadTestResult"/>.</summary>
internal sealed class RunMetrics
{
    private long _opened;
    private long _failed;
    private long _open;
    private long _openAtEnd;
    private long _sent;
    private long _received;
    private long _accepted;
    private LogLinearHistogram _interval = new();

    public LogLinearHistogram ConnectTimeMicroseconds { get; } = new();

    /// <summary>echo: from the intended send time to the echo's arrival (corrected for coordinated omission).</summary>
    public LogLinearHistogram RoundTripMicroseconds { get; } = new();

    /// <summary>echo: from the actual send to the echo (messages of 16 bytes and more carry both times).</summary>
    public LogLinearHistogram ServiceTimeMicroseconds { get; } = new();

    public LogLinearHistogram RetryAfterSeconds { get; } = new();

    /// <summary>--reconnect: from a session's end to its replacement's opening.</summary>
    public LogLinearHistogram ReconnectTimeMicroseconds { get; } = new();

    /// <summary>--reconnect: sessions reopened, by what ended the one before (close code, <c>dropped</c>, or the failed attempt's cause).</summary>
    public ConcurrentDictionary<string, long> Reconnects { get; } = new(StringComparer.Ordinal);

    /// <summary>Sessions open at each second of the run (sampled by the runner).</summary>
    public List<long> OpenPerSecond { get; } = [];

    public ConcurrentDictionary<string, long> Failures { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, long> ClosedByServer { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, long> RejectedByStatus { get; } = new(StringComparer.Ordinal);

    public long Opened => Volatile.Read(ref _opened);

    public long Failed => Volatile.Read(ref _failed);

    public long Open => Volatile.Read(ref _open);

    public long OpenAtEnd => Volatile.Read(ref _openAtEnd);

    public long Sent => Volatile.Read(ref _sent);

    public long Received => Volatile.Read(ref _received);

    public long Accepted => Volatile.Read(ref _accepted);

    /// <summary>The main latency (round trip for echo, connect time otherwise) since the last <see cref="TakeInterval"/>.</summary>
    public LogLinearHistogram Interval => Volatile.Read(ref _interval);

    public void SessionOpened(long connectMicroseconds)
    {
        ConnectTimeMicroseconds.Record(connectMicroseconds);
        Interlocked.Increment(ref _opened);
        Interlocked.Increment(ref _open);
    }

    public void SessionEnded() => Interlocked.Decrement(ref _open);

    public void SessionFailed(string cause)
    {
        Interlocked.Increment(ref _failed);
        Count(Failures, cause);
    }

    public void Error(string cause) => Count(Failures, cause);

    public void ServerClosed(int? closeStatus) => Count(ClosedByServer, closeStatus?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none");

    public void Rejected(int status, long? retryAfterSeconds)
    {
        Count(RejectedByStatus, status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (retryAfterSeconds is { } seconds)
        {
            RetryAfterSeconds.Record(seconds);
        }
    }

    public void Reconnected(string cause, long microseconds)
    {
        Count(Reconnects, cause);
        ReconnectTimeMicroseconds.Record(microseconds);
    }

    /// <summary>echo --reconnect: messages lost inside a connection, lost in its close, and echoed twice (set at the end).</summary>
    public (long Lost, long LostInClose, long Duplicated)? SequenceCounts { get; private set; }

    public void SetSequenceCounts(long lost, long lostInClose, long duplicated) => SequenceCounts = (lost, lostInClose, duplicated);

    public void StormAccepted() => Interlocked.Increment(ref _accepted);

    public void SetOpenAtEnd(long count) => Volatile.Write(ref _openAtEnd, count);

    public void MessageSent() => Interlocked.Increment(ref _sent);

    public void MessageReceived(long roundTripMicroseconds, long serviceMicroseconds)
    {
        RoundTripMicroseconds.Record(roundTripMicroseconds);
        Interval.Record(roundTripMicroseconds);
        if (serviceMicroseconds >= 0)
        {
            ServiceTimeMicroseconds.Record(serviceMicroseconds);
        }

        Interlocked.Increment(ref _received);
    }

    public void RecordIntervalLatency(long microseconds) => Interval.Record(microseconds);

    /// <summary>Starts a new interval and returns the one that ended. A value recorded during the swap may land
    /// in either: the display is approximate, the totals are exact.</summary>
    public LogLinearHistogram TakeInterval() => Interlocked.Exchange(ref _interval, new LogLinearHistogram());

    private static void Count(ConcurrentDictionary<string, long> counts, string key) => counts.AddOrUpdate(key, 1, static (_, n) => n + 1);
}
