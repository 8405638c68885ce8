using Gateway.Telemetry;

namespace Gateway.Sessions;

/// <summary>
/// Every live session, on a doubly linked list through the sessions themselves: 16 bytes a session, where a
/// concurrent dictionary costs ~60 (nothing looks a session up by id; the heartbeat, metrics and the drain walk
/// them). Opening and closing take a short lock, once per session and never per message; walking takes none.
/// <see cref="Close"/> is idempotent so a session leaves exactly once however it ends.
/// </summary>
internal sealed partial class SessionRegistry
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _timeProvider;
    private readonly SessionMetrics _metrics;
    private readonly ILogger<SessionRegistry> _logger;
    private long _lastId;
    private int _count;
    private Session? _head;

    public SessionRegistry(TimeProvider timeProvider, SessionMetrics metrics, ILogger<SessionRegistry> logger)
    {
        _timeProvider = timeProvider;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Live sessions; cheaper than counting the dictionary, which takes all its locks.</summary>
    public int Count => Volatile.Read(ref _count);

    internal TimeProvider TimeProvider => _timeProvider;

    /// <summary>Told of every new session (the heartbeat scheduler puts it on its wheel); must not block.</summary>
    internal event Action<Session>? Opened;

    /// <summary>Told of every session that ended, once (the consistent-hash policy's load count); must not block.</summary>
    internal event Action<Session>? Closed;

    internal SessionMetrics Metrics => _metrics;

    /// <summary>
    /// A walk of live sessions that takes no lock: sessions opened during it may or may not be seen, and one that
    /// closes during it may still be (check <see cref="Session.HasEnded"/>); none is seen twice.
    /// </summary>
    public IEnumerable<Session> Sessions
    {
        get
        {
            // A removed session keeps its forward link, so a walk standing on it still reaches the rest.
            for (var session = Volatile.Read(ref _head); session is not null; session = Volatile.Read(ref session.RegistryNext))
            {
                if (!session.HasEnded)
                {
                    yield return session;
                }
            }
        }
    }

    public Session Open(in SessionStartInfo info)
    {
        var session = new Session(Interlocked.Increment(ref _lastId), info, _timeProvider.GetTimestamp());
        lock (_lock)
        {
            session.RegistryNext = _head;
            if (_head is not null)
            {
                _head.RegistryPrevious = session;
            }

            Volatile.Write(ref _head, session);
        }

        Interlocked.Increment(ref _count);
        Opened?.Invoke(session);
        _metrics.SessionOpened(session.RouteId, session.ClusterId, session.Protocol.ToTagValue(), session.Path.ToTagValue(), session.DestinationId, session.Degraded);
        Log.SessionOpened(_logger, session.Id, session.RouteId, session.ClusterId, session.DestinationId, session.ClientAddress, session.ClientPort, session.Protocol.ToTagValue(), session.Path.ToTagValue(), session.Degraded);
        return session;
    }

    /// <summary>Removes the session and records how it ended. Returns false if it had already been closed.</summary>
    /// <param name="detail">What ended the relay (e.g. the forwarder's error), for the log line.</param>
    public bool Close(Session session, SessionCloseReason reason, string? detail = null)
    {
        if (!session.TryEnd(reason))
        {
            return false;
        }

        lock (_lock)
        {
            var previous = session.RegistryPrevious;
            var next = session.RegistryNext;
            if (previous is null)
            {
                Volatile.Write(ref _head, next);
            }
            else
            {
                Volatile.Write(ref previous.RegistryNext, next);
            }

            if (next is not null)
            {
                next.RegistryPrevious = previous;
            }

            // The forward link stays for walks standing on this session; the backward one is not walked.
            session.RegistryPrevious = null;
        }

        Interlocked.Decrement(ref _count);
        Closed?.Invoke(session);
        // The heartbeat wheel may hold the session until its slot comes up; it need not hold the streams too.
        session.Channel = null;
        var duration = _timeProvider.GetElapsedTime(session.StartTimestamp);
        _metrics.SessionClosed(session.RouteId, session.ClusterId, reason.ToTagValue(), session.Path.ToTagValue(), duration.TotalSeconds, session.DestinationId, session.Degraded);
        if (reason is SessionCloseReason.ProtocolError or SessionCloseReason.MessageTooBig)
        {
            var end = SessionEnds.Of(reason);
            Log.FrameRefused(_logger, session.Id, session.RouteId, session.ClientAddress, detail, end.ClientStatus, end.BackendStatus);
        }

        Log.SessionClosed(
            _logger,
            session.Id,
            reason.ToTagValue(),
            session.ClientCloseStatus,
            session.BackendCloseStatus,
            duration.TotalSeconds,
            session.ClientMessages,
            session.ClientBytes,
            session.BackendMessages,
            session.BackendBytes,
            detail);
        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Session {SessionId} opened on route {RouteId}, cluster {ClusterId}, destination {DestinationId}, client {ClientAddress}:{ClientPort} over {Protocol}; {Path} path; degraded {Degraded}.", EventName = "SessionOpened")]
        public static partial void SessionOpened(ILogger logger, long sessionId, string routeId, string clusterId, string? destinationId, System.Net.IPAddress? clientAddress, int clientPort, string protocol, string path, bool degraded);

        [LoggerMessage(3, LogLevel.Information, "Session {SessionId} on route {RouteId}: client {ClientAddress} sent a frame the gateway refused ({Detail}); it got close {CloseStatus}, the backend {BackendCloseStatus}, and nothing of the frame reached the backend.", EventName = "FrameRefused")]
        public static partial void FrameRefused(ILogger logger, long sessionId, string routeId, System.Net.IPAddress? clientAddress, string? detail, int closeStatus, int backendCloseStatus);

        [LoggerMessage(2, LogLevel.Debug, "Session {SessionId} closed ({Reason}; client close {ClientCloseStatus}, backend close {BackendCloseStatus}) after {DurationSeconds:F1} s; client sent {ClientMessages} messages / {ClientBytes} bytes, backend sent {BackendMessages} / {BackendBytes}. {Detail}", EventName = "SessionClosed")]
        public static partial void SessionClosed(ILogger logger, long sessionId, string reason, int? clientCloseStatus, int? backendCloseStatus, double durationSeconds, long clientMessages, long clientBytes, long backendMessages, long backendBytes, string? detail);
    }
}
