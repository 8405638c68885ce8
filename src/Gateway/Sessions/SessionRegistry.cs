using System.Collections.Concurrent;
using Gateway.Telemetry;

namespace Gateway.Sessions;

/// <summary>
/// Every live session. Opening and closing take a dictionary slot (once per session, never per message);
/// <see cref="Close"/> is idempotent so a session leaves exactly once however it ends.
/// </summary>
internal sealed partial class SessionRegistry
{
    private readonly ConcurrentDictionary<long, Session> _sessions = new();
    private readonly TimeProvider _timeProvider;
    private readonly SessionMetrics _metrics;
    private readonly ILogger<SessionRegistry> _logger;
    private long _lastId;
    private int _count;

    public SessionRegistry(TimeProvider timeProvider, SessionMetrics metrics, ILogger<SessionRegistry> logger)
    {
        _timeProvider = timeProvider;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Live sessions; cheaper than counting the dictionary, which takes all its locks.</summary>
    public int Count => Volatile.Read(ref _count);

    internal TimeProvider TimeProvider => _timeProvider;

    internal SessionMetrics Metrics => _metrics;

    /// <summary>A moment-in-time walk of live sessions; takes no lock.</summary>
    public IEnumerable<Session> Sessions
    {
        get
        {
            foreach (var entry in _sessions)
            {
                yield return entry.Value;
            }
        }
    }

    public bool TryGet(long id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Session? session)
        => _sessions.TryGetValue(id, out session);

    public Session Open(in SessionStartInfo info)
    {
        var session = new Session(Interlocked.Increment(ref _lastId), info, _timeProvider.GetTimestamp(), _timeProvider.GetUtcNow());
        _sessions[session.Id] = session;
        Interlocked.Increment(ref _count);
        _metrics.SessionOpened(session.RouteId, session.ClusterId, session.Protocol.ToTagValue(), session.DestinationId, session.Degraded);
        Log.SessionOpened(_logger, session.Id, session.RouteId, session.ClusterId, session.DestinationId, session.ClientAddress, session.ClientPort, session.Protocol.ToTagValue(), session.Degraded);
        return session;
    }

    /// <summary>Removes the session and records how it ended. Returns false if it had already been closed.</summary>
    /// <param name="detail">What ended the relay (e.g. the forwarder's error), for the log line.</param>
    public bool Close(Session session, SessionCloseReason reason, string? detail = null)
    {
        if (!session.TryEnd())
        {
            return false;
        }

        _sessions.TryRemove(session.Id, out _);
        Interlocked.Decrement(ref _count);
        var duration = _timeProvider.GetElapsedTime(session.StartTimestamp);
        _metrics.SessionClosed(session.RouteId, session.ClusterId, reason.ToTagValue(), duration.TotalSeconds, session.DestinationId, session.Degraded);
        Log.SessionClosed(
            _logger,
            session.Id,
            reason.ToTagValue(),
            session.ClientLeg.CloseStatusOrNull,
            session.BackendLeg.CloseStatusOrNull,
            duration.TotalSeconds,
            session.ClientMessages,
            session.ClientBytes,
            session.BackendMessages,
            session.BackendBytes,
            detail ?? session.ClientLeg.Parser.Error ?? session.BackendLeg.Parser.Error);
        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Session {SessionId} opened on route {RouteId}, cluster {ClusterId}, destination {DestinationId}, client {ClientAddress}:{ClientPort} over {Protocol}; degraded {Degraded}.", EventName = "SessionOpened")]
        public static partial void SessionOpened(ILogger logger, long sessionId, string routeId, string clusterId, string? destinationId, System.Net.IPAddress? clientAddress, int clientPort, string protocol, bool degraded);

        [LoggerMessage(2, LogLevel.Debug, "Session {SessionId} closed ({Reason}; client close {ClientCloseStatus}, backend close {BackendCloseStatus}) after {DurationSeconds:F1} s; client sent {ClientMessages} messages / {ClientBytes} bytes, backend sent {BackendMessages} / {BackendBytes}. {Detail}", EventName = "SessionClosed")]
        public static partial void SessionClosed(ILogger logger, long sessionId, string reason, int? clientCloseStatus, int? backendCloseStatus, double durationSeconds, long clientMessages, long clientBytes, long backendMessages, long backendBytes, string? detail);
    }
}
