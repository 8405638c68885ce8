using System.Net;
using System.Threading.RateLimiting;
using Gateway.Telemetry;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Gateway.Admission;

/// <summary>Why an upgrade was refused; the <c>reason</c> label of <c>gateway_admission_rejected_total</c>.</summary>
internal enum AdmissionRejection
{
    None = 0,
    Origin,
    WatermarkCritical,
    WatermarkHigh,
    ClientSessions,
    RateClient,
    RateGlobal,

    /// <summary>The pod is shutting down: the client should reconnect (to another pod) at once.</summary>
    Draining,

    /// <summary>
    /// A switch to a protocol other than WebSocket (<see cref="Sessions.WebSocketRequest.IsOtherUpgrade"/>): 400, never
    /// relayed as an opaque tunnel.
    /// </summary>
    UnsupportedProtocol,
}

/// <summary>The outcome of one admission; <see cref="RetryAfter"/> is what the client is told, jitter included.</summary>
internal readonly record struct AdmissionDecision(AdmissionRejection Rejection, TimeSpan RetryAfter)
{
    public bool Admitted => Rejection == AdmissionRejection.None;

    /// <summary>429 for what one client did (too many sessions or too fast), 503 for what the pod can take.</summary>
    public int StatusCode => Rejection switch
    {
        AdmissionRejection.None => StatusCodes.Status101SwitchingProtocols,
        AdmissionRejection.Origin => StatusCodes.Status403Forbidden,
        AdmissionRejection.UnsupportedProtocol => StatusCodes.Status400BadRequest,
        AdmissionRejection.ClientSessions or AdmissionRejection.RateClient => StatusCodes.Status429TooManyRequests,
        _ => StatusCodes.Status503ServiceUnavailable,
    };

    public int RetryAfterSeconds => (int)Math.Ceiling(RetryAfter.TotalSeconds);
}

/// <summary>An admitted session's hold on the watermark and on its client's session count, released when it ends.</summary>
internal sealed class AdmissionTicket : Sessions.IClientAddressFeature, Sessions.ISessionEndListener
{
    private readonly AdmissionController _controller;

    internal AdmissionTicket(AdmissionController controller, IPAddress clientAddress, ClientSessionCounter.Entry clientEntry)
    {
        _controller = controller;
        ClientAddress = clientAddress;
        ClientEntry = clientEntry;
    }

    public IPAddress ClientAddress { get; }

    internal ClientSessionCounter.Entry ClientEntry { get; }

    /// <summary>A lean session's end gives its slot back (on the YARP path the admission middleware does).</summary>
    void Sessions.ISessionEndListener.OnSessionEnded(Sessions.Session session, Sessions.SessionCloseReason reason) => _controller.Release(this);
}

/// <summary>
/// Decides, before YARP forwards anything, whether a new session may start: the connection watermark first
/// (a compare-and-swap), then the client's open-session cap, the client's token bucket and the global token
/// bucket (System.Threading.RateLimiting). A refusal takes no token from a bucket later in the chain,
/// except that a global refusal has already spent the client's token (cheap checks first, and one client
/// must not drain the pod's bucket).
/// </summary>
/// <remarks>
/// <para>
/// One ticker for the whole gateway (not one per bucket or per client) refills the global bucket and adapts
/// its refill to the level: <see cref="TokenBucketRateLimiter"/> fixes its rate at construction, so a new
/// rate means a new bucket, started with the tokens the old one had. Rates are quantised into
/// <see cref="RateSteps"/> steps between the low and high marks so a bucket is replaced only when the rate
/// really moves.
/// </para>
/// <para>
/// Configuration reloads rebuild only what changed: unchanged buckets keep their tokens, the watermark and the
/// per-client session counts always carry over, and no session is touched.
/// </para>
/// </remarks>
internal sealed partial class AdmissionController : IAdmissionGauges, IDisposable
{
    /// <summary>Steps the refill takes between the low and the high watermark.</summary>
    internal const int RateSteps = 10;

    private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan SummaryInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan LevelLogInterval = TimeSpan.FromSeconds(1);
    private static readonly string[] ReasonTags = ["none", "origin", "watermark_critical", "watermark_high", "client_sessions", "rate_client", "rate_global", "draining", "unsupported_protocol"];

    private readonly IOptionsFactory<AdmissionOptions> _optionsFactory;
    private readonly AdmissionMetrics _metrics;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<AdmissionController> _logger;
    private readonly Func<long> _memoryLimit;
    private readonly ClientSessionCounter _clientSessions = new();
    private readonly ConnectionWatermark _watermark;
    private readonly IDisposable? _reloadRegistration;
    private readonly ITimer? _ticker;
    private readonly long[] _rejectedSinceSummary = new long[ReasonTags.Length];
    private readonly Lock _reloadLock = new();

    private volatile Settings _settings;
    private volatile TokenBucketRateLimiter _globalBucket;
    private volatile PartitionedRateLimiter<IPAddress>? _clientBuckets;
    private double _globalRate;
    private int _loggedLevel;
    private long _lastLevelLogTimestamp;
    private long _lastSummaryTimestamp;

    public AdmissionController(
        IOptions<AdmissionOptions> options,
        IOptionsFactory<AdmissionOptions> optionsFactory,
        IConfiguration configuration,
        AdmissionMetrics metrics,
        TimeProvider timeProvider,
        ILogger<AdmissionController> logger)
        : this(options.Value, optionsFactory, configuration, metrics, timeProvider, logger, MemoryLimit.Bytes, startTicker: true)
    {
    }

    internal AdmissionController(
        AdmissionOptions options,
        IOptionsFactory<AdmissionOptions> optionsFactory,
        IConfiguration? configuration,
        AdmissionMetrics metrics,
        TimeProvider timeProvider,
        ILogger<AdmissionController> logger,
        Func<long> memoryLimit,
        bool startTicker)
    {
        _optionsFactory = optionsFactory;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _logger = logger;
        _memoryLimit = memoryLimit;
        _settings = Settings.From(options, memoryLimit());
        _watermark = new ConnectionWatermark(_settings.Levels);
        _globalRate = _settings.GlobalRate.PermitsPerSecond;
        _globalBucket = CreateGlobalBucket(_settings.GlobalRate, _globalRate, carriedTokens: null);
        _clientBuckets = CreateClientBuckets(_settings.ClientRate);
        _lastSummaryTimestamp = timeProvider.GetTimestamp();
        metrics.Observe(this);
        if (configuration is not null)
        {
            _reloadRegistration = ChangeToken.OnChange(configuration.GetReloadToken, Reload);
        }

        if (startTicker)
        {
            _ticker = timeProvider.CreateTimer(static state => ((AdmissionController)state!).OnTick(), this, TickInterval, TickInterval);
        }
    }

    public bool Enabled => _settings.Enabled;

    public int Level => (int)_watermark.Level;

    public int Admitted => _watermark.Count;

    public double TokensAvailable => _globalBucket.GetStatistics()?.CurrentAvailablePermits ?? 0;

    public double RefillPerSecond => Volatile.Read(ref _globalRate);

    public int LowWatermark => _settings.Levels.Low;

    public int HighWatermark => _settings.Levels.High;

    public int CriticalWatermark => _settings.Levels.Critical;

    public TimeSpan RejectionCloseTimeout => _settings.RejectionCloseTimeout;

    internal ClientSessionCounter ClientSessions => _clientSessions;

    internal static string TagOf(AdmissionRejection rejection) => ReasonTags[(int)rejection];

    /// <summary>The client address the limits apply to (see <see cref="ClientIdentity"/>).</summary>
    public IPAddress ResolveClient(HttpContext context)
    {
        var settings = _settings;
        var header = settings.ForwardedHeader == ForwardedHeaderKind.Forwarded ? context.Request.Headers["Forwarded"] : context.Request.Headers["X-Forwarded-For"];
        return ClientIdentity.Resolve(context.Connection.RemoteIpAddress, header, settings.ForwardedHeader, settings.TrustedProxies);
    }

    /// <summary>Admits a new session or says why not. An admitted ticket must be given back to <see cref="Release"/>.</summary>
    public AdmissionDecision TryAdmit(IPAddress client, bool priority, string route, out AdmissionTicket? ticket)
    {
        ticket = null;
        var settings = _settings;
        var refused = _watermark.TryAcquire(priority, out var count);
        if (refused != AdmissionLevel.Normal)
        {
            return Reject(route, refused == AdmissionLevel.Critical ? AdmissionRejection.WatermarkCritical : AdmissionRejection.WatermarkHigh, settings.RetryAfter, settings);
        }

        if (!_clientSessions.TryAcquire(client, settings.MaxSessionsPerClient, out var entry))
        {
            // A slot held for microseconds is not a level change: release it without a word.
            _watermark.Release();
            return Reject(route, AdmissionRejection.ClientSessions, settings.RetryAfter, settings);
        }

        if (!TryAcquire(client, out var clientRetry, out var globalRetry))
        {
            _clientSessions.Release(client, entry);
            _watermark.Release();
            return clientRetry is { } retry
                ? Reject(route, AdmissionRejection.RateClient, retry, settings)
                : Reject(route, AdmissionRejection.RateGlobal, globalRetry, settings);
        }

        NoteCount(count);
        _metrics.Admitted(route);
        ticket = new AdmissionTicket(this, client, entry);
        return default;
    }

    /// <summary>
    /// Refuses an upgrade because the pod is draining: 503 with <c>Retry-After: 1</c> plus the usual jitter, since
    /// another pod can take the session now; counted even when admission control is off.
    /// </summary>
    public AdmissionDecision RejectDraining(string route) => Reject(route, AdmissionRejection.Draining, TimeSpan.FromSeconds(1), _settings);

    /// <summary>Counts an origin refusal (decided by the route's allow-list, not here).</summary>
    public AdmissionDecision RejectOrigin(string route) => Reject(route, AdmissionRejection.Origin, TimeSpan.Zero, _settings);

    /// <summary>Counts a refused switch to another protocol (decided by the request alone, not here).</summary>
    public AdmissionDecision RejectProtocol(string route) => Reject(route, AdmissionRejection.UnsupportedProtocol, TimeSpan.Zero, _settings);

    public void Release(AdmissionTicket ticket)
    {
        _clientSessions.Release(ticket.ClientAddress, ticket.ClientEntry);
        ReleaseWatermark();
    }

    public void Dispose()
    {
        _ticker?.Dispose();
        _reloadRegistration?.Dispose();
        _clientBuckets?.Dispose();
        _globalBucket.Dispose();
    }

    /// <summary>The ticker's work; tests call it directly.</summary>
    internal void OnTick()
    {
        try
        {
            _globalBucket.TryReplenish();
            AdaptGlobalRate();
            NoteCount(_watermark.Count);
            LogSummaryIfDue();
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // The ticker must never die: without it the bucket never refills.
            Log.TickFailed(_logger, exception);
        }
    }

    /// <summary>
    /// The refill for <paramref name="count"/> admitted sessions: full below the low mark, the minimum from the
    /// high mark on, and in between a linear descent in <see cref="RateSteps"/> steps.
    /// </summary>
    internal static double RefillFor(int count, WatermarkLevels levels, GlobalRate rate)
    {
        if (count <= levels.Low || levels.High <= levels.Low)
        {
            return count < levels.High ? rate.PermitsPerSecond : rate.MinimumPermitsPerSecond;
        }

        var fraction = Math.Min(1.0, (double)(count - levels.Low) / (levels.High - levels.Low));
        var step = Math.Floor(fraction * RateSteps) / RateSteps;
        return rate.PermitsPerSecond - ((rate.PermitsPerSecond - rate.MinimumPermitsPerSecond) * step);
    }

    /// <summary>Reads the configuration again; keeps the running limits if it is invalid.</summary>
    internal void Reload()
    {
        AdmissionOptions options;
        try
        {
            options = _optionsFactory.Create(Options.DefaultName);
        }
        catch (OptionsValidationException exception)
        {
            Log.ReloadRejected(_logger, string.Join(" ", exception.Failures));
            return;
        }
        catch (InvalidOperationException exception)
        {
            // The binder's "Failed to convert configuration value at 'Gateway:Admission:...'".
            Log.ReloadRejected(_logger, exception.Message);
            return;
        }

        Apply(Settings.From(options, _memoryLimit()));
    }

    internal void Apply(Settings next)
    {
        lock (_reloadLock)
        {
            var current = _settings;
            if (current.Equals(next))
            {
                return;
            }

            _watermark.Levels = next.Levels;
            if (next.GlobalRate != current.GlobalRate)
            {
                var rate = RefillFor(_watermark.Count, next.Levels, next.GlobalRate);
                _globalBucket = CreateGlobalBucket(next.GlobalRate, rate, _globalBucket.GetStatistics()?.CurrentAvailablePermits);
                Volatile.Write(ref _globalRate, rate);
            }

            if (next.ClientRate != current.ClientRate)
            {
                var old = _clientBuckets;
                _clientBuckets = CreateClientBuckets(next.ClientRate);
                // An admission may still be inside the old limiter; TryAcquire retries on the new one if it was disposed.
                old?.Dispose();
            }

            _settings = next;
            Log.Reloaded(_logger, next.Enabled, next.GlobalRate.PermitsPerSecond, next.GlobalRate.Burst, next.GlobalRate.MinimumPermitsPerSecond,
                next.ClientRate.PermitsPerSecond, next.ClientRate.Burst, next.MaxSessionsPerClient, next.Levels.Low, next.Levels.High, next.Levels.Critical);
        }

        NoteCount(_watermark.Count);
    }

    private bool TryAcquire(IPAddress client, out TimeSpan? clientRetry, out TimeSpan globalRetry)
    {
        clientRetry = null;
        globalRetry = TimeSpan.Zero;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (_clientBuckets is { } clientBuckets)
                {
                    using var clientLease = clientBuckets.AttemptAcquire(client);
                    if (!clientLease.IsAcquired)
                    {
                        clientRetry = RetryAfterOf(clientLease);
                        return false;
                    }
                }

                using var lease = _globalBucket.AttemptAcquire();
                if (!lease.IsAcquired)
                {
                    globalRetry = RetryAfterOf(lease);
                    return false;
                }

                return true;
            }
            catch (ObjectDisposedException) when (attempt == 0)
            {
                // A reload replaced the limiter between reading the field and using it.
            }
        }
    }

    private static TimeSpan RetryAfterOf(RateLimitLease lease)
        => lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);

    private AdmissionDecision Reject(string route, AdmissionRejection rejection, TimeSpan retryAfter, Settings settings)
    {
        _metrics.Rejected(route, TagOf(rejection));
        Interlocked.Increment(ref _rejectedSinceSummary[(int)rejection]);
        if (rejection is AdmissionRejection.Origin or AdmissionRejection.UnsupportedProtocol)
        {
            return new AdmissionDecision(rejection, TimeSpan.Zero);
        }

        // Whole seconds (the header's unit), at least one, plus up to the configured jitter.
        var seconds = Math.Max(1, Math.Ceiling(retryAfter.TotalSeconds));
        var jitter = (int)settings.RetryAfterJitter.TotalSeconds;
        if (jitter > 0)
        {
            seconds += Random.Shared.Next(0, jitter + 1);
        }

        return new AdmissionDecision(rejection, TimeSpan.FromSeconds(seconds));
    }

    private void ReleaseWatermark() => NoteCount(_watermark.Release());


    /// <summary>
    /// Logs a level change once, whichever thread saw it first, and at most once per
    /// <see cref="LevelLogInterval"/>: a pod hovering at a mark while sessions come and go would otherwise log
    /// on every session. A change held back is logged by the ticker once the interval has passed, from the last
    /// level logged to the level then in force, so the log always ends on the current level.
    /// </summary>
    private void NoteCount(int count)
    {
        var settings = _settings;
        var level = (int)ConnectionWatermark.LevelOf(count, settings.Levels);
        var logged = Volatile.Read(ref _loggedLevel);
        if (level == logged)
        {
            return;
        }

        var last = Volatile.Read(ref _lastLevelLogTimestamp);
        if ((last != 0 && _timeProvider.GetElapsedTime(last) < LevelLogInterval)
            || Interlocked.CompareExchange(ref _loggedLevel, level, logged) != logged)
        {
            return;
        }

        Volatile.Write(ref _lastLevelLogTimestamp, _timeProvider.GetTimestamp());
        var name = ((AdmissionLevel)level).ToString();
        var previous = ((AdmissionLevel)logged).ToString();
        if (level > logged)
        {
            Log.LevelRaised(_logger, previous, name, count, settings.Levels.Low, settings.Levels.High, settings.Levels.Critical);
        }
        else
        {
            Log.LevelLowered(_logger, previous, name, count, settings.Levels.Low, settings.Levels.High, settings.Levels.Critical);
        }
    }

    private void AdaptGlobalRate()
    {
        var settings = _settings;
        var rate = RefillFor(_watermark.Count, settings.Levels, settings.GlobalRate);
        if (rate == Volatile.Read(ref _globalRate))
        {
            return;
        }

        lock (_reloadLock)
        {
            if (!ReferenceEquals(settings, _settings))
            {
                return;
            }

            // Admissions racing with the swap may still take a token from the old bucket; at most a handful.
            _globalBucket = CreateGlobalBucket(settings.GlobalRate, rate, _globalBucket.GetStatistics()?.CurrentAvailablePermits);
            Volatile.Write(ref _globalRate, rate);
        }
    }

    private void LogSummaryIfDue()
    {
        if (_timeProvider.GetElapsedTime(_lastSummaryTimestamp) < SummaryInterval)
        {
            return;
        }

        _lastSummaryTimestamp = _timeProvider.GetTimestamp();
        long total = 0;
        var parts = new List<string>();
        for (var i = 1; i < _rejectedSinceSummary.Length; i++)
        {
            var count = Interlocked.Exchange(ref _rejectedSinceSummary[i], 0);
            if (count > 0)
            {
                total += count;
                parts.Add($"{ReasonTags[i]} {count}");
            }
        }

        if (total > 0)
        {
            Log.RejectionSummary(_logger, total, SummaryInterval.TotalSeconds, string.Join(", ", parts), _watermark.Count, ((AdmissionLevel)Level).ToString(), RefillPerSecond);
        }
    }

    /// <summary>
    /// A bucket refilled by <see cref="OnTick"/> (no timer of its own), at <paramref name="rate"/> per second,
    /// holding what the bucket it replaces held (full for the first).
    /// </summary>
    /// <remarks>
    /// A bucket it replaces is not disposed: an admission may be using it at this moment, and a bucket that
    /// refills by hand holds nothing that needs disposing (no timer, no queue: the queue limit is 0).
    /// </remarks>
    private static TokenBucketRateLimiter CreateGlobalBucket(GlobalRate settings, double rate, long? carriedTokens)
    {
        var bucket = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = settings.Burst,
            // One token per period of 1/rate: the bucket's fill rate is then exactly `rate`, fractional rates included.
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromTicks(Math.Max(1, (long)(TimeSpan.TicksPerSecond / rate))),
            AutoReplenishment = false,
            QueueLimit = 0,
        });
        if (carriedTokens is { } tokens && tokens < settings.Burst)
        {
            using var drained = bucket.AttemptAcquire((int)(settings.Burst - Math.Max(0, tokens)));
        }

        return bucket;
    }

    private static PartitionedRateLimiter<IPAddress>? CreateClientBuckets(ClientRate settings)
    {
        if (settings.PermitsPerSecond <= 0)
        {
            return null;
        }

        var options = new TokenBucketRateLimiterOptions
        {
            TokenLimit = settings.Burst,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromTicks(Math.Max(1, (long)(TimeSpan.TicksPerSecond / settings.PermitsPerSecond))),
            // The partitioned limiter refills its partitions from its own single timer, and drops a client's
            // bucket once it has been full (idle) for a while.
            AutoReplenishment = false,
            QueueLimit = 0,
        };
        Func<IPAddress, TokenBucketRateLimiter> factory = _ => new TokenBucketRateLimiter(options);
        return PartitionedRateLimiter.Create<IPAddress, IPAddress>(client => RateLimitPartition.Get(client, factory));
    }

    /// <summary>Global bucket settings; value equality tells a reload whether to rebuild the bucket.</summary>
    internal readonly record struct GlobalRate(double PermitsPerSecond, int Burst, double MinimumPermitsPerSecond);

    internal readonly record struct ClientRate(double PermitsPerSecond, int Burst);

    /// <summary>The options as admission runs them, immutable, swapped whole on reload.</summary>
    internal sealed record Settings(
        bool Enabled,
        GlobalRate GlobalRate,
        ClientRate ClientRate,
        int MaxSessionsPerClient,
        WatermarkLevels Levels,
        IPNetwork[] TrustedProxies,
        ForwardedHeaderKind ForwardedHeader,
        TimeSpan RetryAfter,
        TimeSpan RetryAfterJitter,
        TimeSpan RejectionCloseTimeout)
    {
        public static Settings From(AdmissionOptions options, long memoryLimitBytes) => new(
            options.Enabled,
            new GlobalRate(options.Rate.PermitsPerSecond, options.Rate.Burst, options.Rate.MinimumPermitsPerSecond),
            new ClientRate(options.PerClient.PermitsPerSecond, options.PerClient.Burst),
            options.PerClient.MaxSessions,
            options.Watermarks.Resolve(memoryLimitBytes),
            TrustedNetworks.Parse(options.TrustedProxies),
            options.ForwardedHeader,
            options.RetryAfter,
            options.RetryAfterJitter,
            options.RejectionCloseTimeout);

        public bool Equals(Settings? other)
            => other is not null
            && Enabled == other.Enabled
            && GlobalRate == other.GlobalRate
            && ClientRate == other.ClientRate
            && MaxSessionsPerClient == other.MaxSessionsPerClient
            && Levels == other.Levels
            && TrustedProxies.AsSpan().SequenceEqual(other.TrustedProxies)
            && ForwardedHeader == other.ForwardedHeader
            && RetryAfter == other.RetryAfter
            && RetryAfterJitter == other.RetryAfterJitter
            && RejectionCloseTimeout == other.RejectionCloseTimeout;

        public override int GetHashCode() => HashCode.Combine(Enabled, GlobalRate, ClientRate, MaxSessionsPerClient, Levels, ForwardedHeader, RetryAfter);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Admission level raised from {PreviousLevel} to {Level}: {Sessions} sessions admitted (watermarks low {Low}, high {High}, critical {Critical}).", EventName = "AdmissionLevelRaised")]
        public static partial void LevelRaised(ILogger logger, string previousLevel, string level, int sessions, int low, int high, int critical);

        [LoggerMessage(2, LogLevel.Information, "Admission level lowered from {PreviousLevel} to {Level}: {Sessions} sessions admitted (watermarks low {Low}, high {High}, critical {Critical}).", EventName = "AdmissionLevelLowered")]
        public static partial void LevelLowered(ILogger logger, string previousLevel, string level, int sessions, int low, int high, int critical);

        [LoggerMessage(3, LogLevel.Warning, "Admission rejected {Rejected} upgrades in the last {Seconds} s ({Reasons}); {Sessions} sessions admitted, level {Level}, refill {RefillPerSecond:F1}/s.", EventName = "AdmissionRejections")]
        public static partial void RejectionSummary(ILogger logger, long rejected, double seconds, string reasons, int sessions, string level, double refillPerSecond);

        [LoggerMessage(4, LogLevel.Information, "Admission limits reloaded: enabled {Enabled}; global {Rate}/s burst {Burst} (minimum {MinimumRate}/s); per client {ClientRate}/s burst {ClientBurst}, {MaxSessions} sessions; watermarks {Low}/{High}/{Critical}.", EventName = "AdmissionReloaded")]
        public static partial void Reloaded(ILogger logger, bool enabled, double rate, int burst, double minimumRate, double clientRate, int clientBurst, int maxSessions, int low, int high, int critical);

        [LoggerMessage(5, LogLevel.Error, "Admission configuration reload rejected, the running limits stay: {Problems}", EventName = "AdmissionReloadRejected")]
        public static partial void ReloadRejected(ILogger logger, string problems);

        [LoggerMessage(6, LogLevel.Error, "Admission ticker failed; it keeps running.", EventName = "AdmissionTickFailed")]
        public static partial void TickFailed(ILogger logger, Exception exception);
    }
}
