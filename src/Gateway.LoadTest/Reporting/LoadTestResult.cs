using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Metrics;

namespace Gateway.LoadTest.Reporting;

/// <summary>The machine-readable result of a run (the <c>--json</c> file and a worker's result file). Field
/// names are stable; see README.md. Latencies are in milliseconds; raw histograms (microseconds, seconds for
/// Retry-After) are kept so that results of workers merge exactly.</summary>
internal sealed class LoadTestResult
{
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string Command { get; set; } = "";

    public string Url { get; set; } = "";

    public bool Http2 { get; set; }

    public int Workers { get; set; } = 1;

    public double ElapsedSeconds { get; set; }

    public SessionCounts Sessions { get; set; } = new();

    public MessageCounts? Messages { get; set; }

    public StormCounts? Storm { get; set; }

    public LatencySummary ConnectTimeMs { get; set; } = new();

    public LatencySummary? RoundTripMs { get; set; }

    public LatencySummary? ServiceTimeMs { get; set; }

    /// <summary>hold --reconnect: sessions reopened by cause and the time each took from the end of the one before.</summary>
    public ReconnectCounts? Reconnects { get; set; }

    /// <summary>Sessions open at each second of the run (workers: added up second by second).</summary>
    public List<long> OpenPerSecond { get; set; } = [];

    /// <summary>Failures by cause: connect_refused, timeout, http_503, close_1013, exception_IOException...</summary>
    public SortedDictionary<string, long> Failures { get; set; } = new(StringComparer.Ordinal);

    public long FailureCount { get; set; }

    public RawHistograms Histograms { get; set; } = new();

    public static LoadTestResult From(RunMetrics metrics, LoadTestOptions options, TimeSpan elapsed, TimeSpan? messagingTime)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(options);
        var result = new LoadTestResult
        {
            Command = options.Command.ToString().ToLowerInvariant(),
            Url = options.Url.ToString(),
            Http2 = options.Http2,
            Workers = 1,
            ElapsedSeconds = elapsed.TotalSeconds,
            Sessions = new SessionCounts
            {
                Requested = options.Command == LoadTestCommand.Storm ? options.Attempts : options.Sessions,
                Opened = metrics.Opened,
                Failed = metrics.Failed,
                OpenAtEnd = metrics.OpenAtEnd,
                ClosedByServer = new SortedDictionary<string, long>(metrics.ClosedByServer, StringComparer.Ordinal),
            },
            Failures = new SortedDictionary<string, long>(metrics.Failures, StringComparer.Ordinal),
            Histograms = new RawHistograms { ConnectTimeUs = metrics.ConnectTimeMicroseconds.ToData() },
            OpenPerSecond = [.. metrics.OpenPerSecond],
        };
        if (options.Reconnect)
        {
            result.Reconnects = new ReconnectCounts { ByCause = new SortedDictionary<string, long>(metrics.Reconnects, StringComparer.Ordinal) };
            result.Histograms.ReconnectTimeUs = metrics.ReconnectTimeMicroseconds.ToData();
        }
        if (options.Command == LoadTestCommand.Echo)
        {
            // Requested: the messages scheduled (rate × --duration); achieved: those echoed, over the sending time.
            var seconds = (messagingTime ?? elapsed).TotalSeconds;
            var scheduled = (options.Duration ?? elapsed).TotalSeconds;
            result.Messages = new MessageCounts
            {
                RequestedRate = options.Rate,
                DurationSeconds = scheduled,
                Requested = (long)Math.Round(options.Rate * scheduled),
                Sent = metrics.Sent,
                Received = metrics.Received,
                AchievedRate = seconds > 0 ? metrics.Received / seconds : 0,
                Size = options.Size,
                Binary = options.Binary,
                Lost = metrics.SequenceCounts?.Lost,
                LostInClose = metrics.SequenceCounts?.LostInClose,
                Duplicated = metrics.SequenceCounts?.Duplicated,
            };
            result.Histograms.RoundTripUs = metrics.RoundTripMicroseconds.ToData();
            result.Histograms.ServiceTimeUs = metrics.ServiceTimeMicroseconds.ToData();
        }

        if (options.Command == LoadTestCommand.Storm)
        {
            result.Storm = new StormCounts
            {
                Attempts = options.Attempts,
                Accepted = metrics.Accepted,
                RejectedByStatus = new SortedDictionary<string, long>(metrics.RejectedByStatus, StringComparer.Ordinal),
                ClosedByCode = new SortedDictionary<string, long>(metrics.ClosedByServer, StringComparer.Ordinal),
            };
            result.Histograms.RetryAfterSeconds = metrics.RetryAfterSeconds.ToData();
        }

        result.Summarise();
        return result;
    }

    /// <summary>One result for a run split over workers: counts and histograms add up, rates add up (the
    /// workers ran side by side), times are the longest.</summary>
    public static LoadTestResult Merge(IReadOnlyList<LoadTestResult> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0)
        {
            throw new ArgumentException("Nothing to merge.", nameof(parts));
        }

        var first = parts[0];
        var merged = new LoadTestResult
        {
            Command = first.Command,
            Url = first.Url,
            Http2 = first.Http2,
            Workers = parts.Count,
            ElapsedSeconds = parts.Max(p => p.ElapsedSeconds),
        };
        var connect = new LogLinearHistogram();
        LogLinearHistogram? roundTrip = null, service = null, retryAfter = null, reconnect = null;
        foreach (var part in parts)
        {
            merged.Sessions.Requested += part.Sessions.Requested;
            merged.Sessions.Opened += part.Sessions.Opened;
            merged.Sessions.Failed += part.Sessions.Failed;
            merged.Sessions.OpenAtEnd += part.Sessions.OpenAtEnd;
            AddCounts(merged.Sessions.ClosedByServer, part.Sessions.ClosedByServer);
            AddCounts(merged.Failures, part.Failures);
            connect.Add(LogLinearHistogram.FromData(part.Histograms.ConnectTimeUs));
            if (part.Messages is { } messages)
            {
                merged.Messages ??= new MessageCounts { Size = messages.Size, Binary = messages.Binary };
                merged.Messages.RequestedRate += messages.RequestedRate;
                merged.Messages.DurationSeconds = Math.Max(merged.Messages.DurationSeconds, messages.DurationSeconds);
                merged.Messages.Requested += messages.Requested;
                merged.Messages.Sent += messages.Sent;
                merged.Messages.Received += messages.Received;
                merged.Messages.AchievedRate += messages.AchievedRate;
                merged.Messages.Lost = Add(merged.Messages.Lost, messages.Lost);
                merged.Messages.LostInClose = Add(merged.Messages.LostInClose, messages.LostInClose);
                merged.Messages.Duplicated = Add(merged.Messages.Duplicated, messages.Duplicated);
            }

            if (part.Storm is { } storm)
            {
                merged.Storm ??= new StormCounts();
                merged.Storm.Attempts += storm.Attempts;
                merged.Storm.Accepted += storm.Accepted;
                AddCounts(merged.Storm.RejectedByStatus, storm.RejectedByStatus);
                AddCounts(merged.Storm.ClosedByCode, storm.ClosedByCode);
            }

            AddHistogram(ref roundTrip, part.Histograms.RoundTripUs);
            AddHistogram(ref service, part.Histograms.ServiceTimeUs);
            AddHistogram(ref retryAfter, part.Histograms.RetryAfterSeconds);
            AddHistogram(ref reconnect, part.Histograms.ReconnectTimeUs);
            if (part.Reconnects is { } reconnects)
            {
                merged.Reconnects ??= new ReconnectCounts();
                AddCounts(merged.Reconnects.ByCause, reconnects.ByCause);
            }

            for (var second = 0; second < part.OpenPerSecond.Count; second++)
            {
                if (second == merged.OpenPerSecond.Count)
                {
                    merged.OpenPerSecond.Add(0);
                }

                merged.OpenPerSecond[second] += part.OpenPerSecond[second];
            }
        }

        merged.Histograms = new RawHistograms
        {
            ConnectTimeUs = connect.ToData(),
            RoundTripUs = roundTrip?.ToData(),
            ServiceTimeUs = service?.ToData(),
            RetryAfterSeconds = retryAfter?.ToData(),
            ReconnectTimeUs = reconnect?.ToData(),
        };
        merged.Summarise();
        return merged;
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static LoadTestResult FromJson(string json) =>
        JsonSerializer.Deserialize<LoadTestResult>(json, JsonOptions) ?? throw new FormatException("Empty result.");

    private void Summarise()
    {
        ConnectTimeMs = LatencySummary.FromMicroseconds(LogLinearHistogram.FromData(Histograms.ConnectTimeUs));
        RoundTripMs = Histograms.RoundTripUs is { } rt ? LatencySummary.FromMicroseconds(LogLinearHistogram.FromData(rt)) : null;
        ServiceTimeMs = Histograms.ServiceTimeUs is { } st ? LatencySummary.FromMicroseconds(LogLinearHistogram.FromData(st)) : null;
        if (Storm is not null && Histograms.RetryAfterSeconds is { } ra)
        {
            var h = LogLinearHistogram.FromData(ra);
            Storm.RetryAfterSeconds = new RetryAfterSummary { Count = h.Count, Min = h.Min, P50 = h.ValueAtPercentile(50), Max = h.Max };
        }

        if (Reconnects is not null && Histograms.ReconnectTimeUs is { } reconnectTime)
        {
            Reconnects.Count = Reconnects.ByCause.Values.Sum();
            Reconnects.TimeToReconnectMs = LatencySummary.FromMicroseconds(LogLinearHistogram.FromData(reconnectTime));
        }

        FailureCount = Failures.Values.Sum();
    }

    private static long? Add(long? total, long? part) => total is null && part is null ? null : (total ?? 0) + (part ?? 0);

    private static void AddCounts(SortedDictionary<string, long> into, IDictionary<string, long> from)
    {
        foreach (var (key, value) in from)
        {
            into[key] = into.GetValueOrDefault(key) + value;
        }
    }

    private static void AddHistogram(ref LogLinearHistogram? into, HistogramData? data)
    {
        if (data is null)
        {
            return;
        }

        into ??= new LogLinearHistogram();
        into.Add(LogLinearHistogram.FromData(data));
    }
}

internal sealed class SessionCounts
{
    /// <summary>Sessions asked for (hold, echo) or connection attempts (storm).</summary>
    public long Requested { get; set; }

    public long Opened { get; set; }

    public long Failed { get; set; }

    /// <summary>Sessions still open when the hold (or the echo run) ended, before the tool closed them.</summary>
    public long OpenAtEnd { get; set; }

    /// <summary>Sessions the server closed before the tool did, by close code ("none": dropped without a close frame).</summary>
    public SortedDictionary<string, long> ClosedByServer { get; set; } = new(StringComparer.Ordinal);
}

internal sealed class MessageCounts
{
    public double RequestedRate { get; set; }

    public double DurationSeconds { get; set; }

    public long Requested { get; set; }

    public long Sent { get; set; }

    public long Received { get; set; }

    public double AchievedRate { get; set; }

    public int Size { get; set; }

    public bool Binary { get; set; }

    /// <summary>echo --reconnect: numbers an echo skipped, inside a connection (should be 0).</summary>
    public long? Lost { get; set; }

    /// <summary>echo --reconnect: sent on a connection that ended before their echo (RFC 6455 lets a closing endpoint drop them).</summary>
    public long? LostInClose { get; set; }

    /// <summary>echo --reconnect: numbers echoed again.</summary>
    public long? Duplicated { get; set; }
}

internal sealed class StormCounts
{
    public long Attempts { get; set; }

    /// <summary>Upgrades that succeeded and were not closed by the server within the linger.</summary>
    public long Accepted { get; set; }

    public SortedDictionary<string, long> RejectedByStatus { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Upgrades that succeeded but that the server closed within the linger, by close code.</summary>
    public SortedDictionary<string, long> ClosedByCode { get; set; } = new(StringComparer.Ordinal);

    public RetryAfterSummary RetryAfterSeconds { get; set; } = new();
}

internal sealed class RetryAfterSummary
{
    public long Count { get; set; }

    public long Min { get; set; }

    public long P50 { get; set; }

    public long Max { get; set; }
}

internal sealed class LatencySummary
{
    public long Count { get; set; }

    public double Min { get; set; }

    public double P50 { get; set; }

    public double P90 { get; set; }

    public double P99 { get; set; }

    public double P999 { get; set; }

    public double Max { get; set; }

    public double Mean { get; set; }

    public static LatencySummary FromMicroseconds(LogLinearHistogram histogram)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        return new LatencySummary
        {
            Count = histogram.Count,
            Min = histogram.Min / 1000.0,
            P50 = histogram.ValueAtPercentile(50) / 1000.0,
            P90 = histogram.ValueAtPercentile(90) / 1000.0,
            P99 = histogram.ValueAtPercentile(99) / 1000.0,
            P999 = histogram.ValueAtPercentile(99.9) / 1000.0,
            Max = histogram.Max / 1000.0,
            Mean = Math.Round(histogram.Mean / 1000.0, 3),
        };
    }
}

internal sealed class RawHistograms
{
    public HistogramData ConnectTimeUs { get; set; } = new();

    public HistogramData? RoundTripUs { get; set; }

    public HistogramData? ServiceTimeUs { get; set; }

    public HistogramData? ReconnectTimeUs { get; set; }

    public HistogramData? RetryAfterSeconds { get; set; }
}
