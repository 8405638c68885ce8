using System.Collections.Concurrent;
using System.IO.Pipelines;
using Gateway.Hosting;
using Gateway.Telemetry;
using Microsoft.Extensions.Options;

namespace Gateway.Connections;

/// <summary>
/// What a client connection must get past before the HTTP layer sees it: a cap on open client connections, derived
/// from the open-file limit unless configured, so the process never runs out of descriptors (at the limit the
/// management port, new sessions' backend legs and the runtime itself would fail), and a deadline for a new
/// connection's first byte, so silent connections go in seconds instead of after Kestrel's keep-alive timeout.
/// </summary>
/// <remarks>
/// No timer per connection: a connection still waiting for its first byte is queued in arrival order, and one ticker
/// cancels the wait of those at the front whose deadline has passed (the deadline is the same for all, so the queue
/// is ordered by it). Written by hand because Kestrel's own <c>MaxConcurrentConnections</c> counts every listener,
/// the management port's too, and it has no first-request deadline (a new connection gets the keep-alive timeout).
/// </remarks>
internal sealed partial class ConnectionGate : IDisposable, IConnectionGauges
{
    /// <summary>Descriptors a client connection is counted for: its own socket and its backend leg's.</summary>
    public const int DescriptorsPerConnection = 2;

    private readonly ConcurrentQueue<Waiter> _waiting = new();
    private readonly ConnectionMetrics _metrics;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<ConnectionGate> _logger;
    private readonly long _firstByteTimeout;
    private readonly ITimer? _ticker;
    private readonly LogBudget _atLimitLog;
    private int _open;

    public ConnectionGate(IOptions<ServerOptions> options, ConnectionMetrics metrics, TimeProvider timeProvider, ILogger<ConnectionGate> logger)
        : this(LimitsOf(options), DescriptorLimit.ReadSoftLimit(), DescriptorLimit.OpenNow(), metrics, timeProvider, logger)
    {
    }

    /// <summary>Invalid settings do not stop the gate's creation: start-up validation reports them all, then the start fails.</summary>
    private static ServerLimitsOptions LimitsOf(IOptions<ServerOptions> options)
    {
        try
        {
            return options.Value.Limits;
        }
        catch (Exception exception) when (exception is OptionsValidationException or InvalidOperationException)
        {
            return new ServerLimitsOptions();
        }
    }

    internal ConnectionGate(ServerLimitsOptions limits, long? openFileLimit, int openAtStart, ConnectionMetrics metrics, TimeProvider timeProvider, ILogger<ConnectionGate> logger)
    {
        OpenAtStart = openAtStart;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _logger = logger;
        _atLimitLog = new LogBudget(1, timeProvider);
        OpenFileLimit = openFileLimit;
        Limit = limits.MaxConnections > 0 ? limits.MaxConnections : Derive(openFileLimit, openAtStart + limits.ReservedFileDescriptors);
        FirstByteTimeout = limits.FirstByteTimeout;
        _firstByteTimeout = (long)(limits.FirstByteTimeout.TotalSeconds * timeProvider.TimestampFrequency);
        var tick = TimeSpan.FromTicks(Math.Clamp(limits.FirstByteTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 100, TimeSpan.TicksPerSecond));
        _ticker = timeProvider.CreateTimer(static state => ((ConnectionGate)state!).ExpireWaits(), this, tick, tick);
        metrics.Observe(this);
    }

    /// <summary>Open client connections allowed at once; <see cref="int.MaxValue"/> when neither configured nor derivable.</summary>
    public int Limit { get; }

    public long? OpenFileLimit { get; }

    /// <summary>Descriptors already open when the gate was made (the runtime's own and the listeners': ~230).</summary>
    public int OpenAtStart { get; }

    public TimeSpan FirstByteTimeout { get; }

    public int Open => Volatile.Read(ref _open);

    /// <summary>The cap a descriptor limit allows: what is left after those already open and the reserve, two a connection.</summary>
    internal static int Derive(long? openFileLimit, int reserved)
        => openFileLimit is { } limit and > 0 and < int.MaxValue
            ? (int)Math.Max(1, (limit - reserved) / DescriptorsPerConnection)
            : int.MaxValue;

    /// <summary>Counts a new connection in; false (counted as refused) when the cap is reached.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _open) <= Limit)
        {
            return true;
        }

        Interlocked.Decrement(ref _open);
        _metrics.Refused(ConnectionMetrics.AtLimit);
        if (_atLimitLog.TryTake(out var notLogged))
        {
            Log.AtLimit(_logger, Limit, OpenFileLimit, notLogged);
        }

        return false;
    }

    public void Exit() => Interlocked.Decrement(ref _open);

    /// <summary>Waits for the connection's first byte; a connection that sent none in time (or left) is aborted: false.</summary>
    public async ValueTask<bool> AdmitFirstByteAsync(Microsoft.AspNetCore.Connections.ConnectionContext connection)
    {
        if (await WaitForFirstByteAsync(connection.Transport.Input).ConfigureAwait(false))
        {
            return true;
        }

        connection.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("No byte within the first-byte timeout."));
        return false;
    }

    /// <summary>
    /// Waits for the connection's first byte (left unconsumed for the HTTP layer); false when the deadline passed or
    /// the client left without sending one.
    /// </summary>
    public async ValueTask<bool> WaitForFirstByteAsync(PipeReader input)
    {
        var read = input.ReadAsync();
        ReadResult result;
        if (read.IsCompleted)
        {
            result = read.GetAwaiter().GetResult();
        }
        else
        {
            var waiter = new Waiter(input, _timeProvider.GetTimestamp() + _firstByteTimeout);
            _waiting.Enqueue(waiter);
            try
            {
                result = await read.ConfigureAwait(false);
            }
            finally
            {
                waiter.Done = true;
            }
        }

        input.AdvanceTo(result.Buffer.Start);
        if (result.IsCanceled)
        {
            _metrics.Refused(ConnectionMetrics.FirstByteTimeout);
            return false;
        }

        return !result.Buffer.IsEmpty;
    }

    private void ExpireWaits()
    {
        var now = _timeProvider.GetTimestamp();
        while (_waiting.TryPeek(out var waiter) && (waiter.Done || waiter.Deadline <= now))
        {
            _waiting.TryDequeue(out _);
            if (!waiter.Done)
            {
                waiter.Input.CancelPendingRead();
            }
        }

    }

    public void Dispose() => _ticker?.Dispose();

    private sealed class Waiter(PipeReader input, long deadline)
    {
        public PipeReader Input { get; } = input;

        public long Deadline { get; } = deadline;

        public volatile bool Done;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Client connections at the cap of {Limit} (open-file limit {OpenFileLimit}): new ones are closed at once until some end ({NotLogged} refusals not logged before this line: one a second).", EventName = "ConnectionsAtLimit")]
        public static partial void AtLimit(ILogger logger, int limit, long? openFileLimit, long notLogged);
    }
}
