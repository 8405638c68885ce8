using System.Net;

namespace Gateway.Sessions;

/// <summary>
/// One live WebSocket relayed by the gateway: what the registry and the heartbeat scheduler know of it. The
/// frame state of its two directions lives in its streams; here are only counters and timestamps. Each
/// direction's counters have one writer (the relay loop of that direction), so counting needs no lock; the
/// scheduler reads with <see cref="Volatile"/>. Timestamps are <see cref="TimeProvider.GetTimestamp"/> values.
/// </summary>
/// <remarks>
/// Kept small on purpose: at a million sessions every field costs a megabyte (see docs/benchmarks.md).
/// </remarks>
internal sealed class Session
{
    // Field order matters a little: the runtime puts references first, then 8-byte fields in declaration order,
    // so what the heartbeat reads on every visit (the wheel link, the binding, the first timestamps) shares the
    // object's first cache line. A visit to a cold session is a cache miss or two; at a million sessions that
    // is most of a tick's cost (docs/benchmarks.md).
    internal Session? WheelNext;
    private readonly SessionBinding _binding;
    private long _lastInbound;
    private long _pingSent;
    private long _lastMessage;
    private long _roundTrip;
    private long _closeDeadline;
    internal long WheelTick;
    private long _lastOutbound;
    private long _lastPong;
    private long _clientBytes;
    private long _clientMessages;
    private long _backendBytes;
    private long _backendMessages;
    private int _flags;
    private int _gatewayClose;
    private int _closeInitiator;
    private int _clientCloseStatus = -1;
    private int _backendCloseStatus = -1;

    private const int EndedFlag = 1;
    private const int ClientGoneFlag = 2;

    public Session(long id, in SessionStartInfo info, long startTimestamp)
        : this(id, SessionBinding.Of(info), info.ClientAddress, info.ClientPort, info.Protocol, startTimestamp)
    {
    }

    internal Session(long id, SessionBinding binding, IPAddress? clientAddress, int clientPort, SessionProtocol protocol, long startTimestamp)
    {
        Id = id;
        _binding = binding;
        ClientAddress = clientAddress;
        ClientPort = clientPort;
        Protocol = protocol;
        StartTimestamp = startTimestamp;
        _lastInbound = startTimestamp;
        _lastOutbound = startTimestamp;
        _lastMessage = startTimestamp;
    }

    /// <summary>Links of the registry's list of live sessions; only the registry touches them.</summary>
    internal Session? RegistryPrevious;
    internal Session? RegistryNext;

    public long Id { get; }

    public string RouteId => _binding.RouteId;

    public string ClusterId => _binding.ClusterId;

    public string? DestinationId => _binding.DestinationId;

    public IPAddress? ClientAddress { get; }

    public int ClientPort { get; }

    public SessionProtocol Protocol { get; }

    /// <summary>Served by the route's fallback cluster because its own cluster had no destination available.</summary>
    public bool Degraded => _binding.Degraded;

    /// <summary>The route's frame limits and heartbeat timings, resolved when the session opened.</summary>
    public SessionRoutePolicy Policy => _binding.Policy;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when the upgrade completed.</summary>
    public long StartTimestamp { get; }

    /// <summary>How the gateway reaches the session's streams (pings, closes); null until the relay starts.</summary>
    public ISessionChannel? Channel { get; internal set; }

    public long ClientBytes => Volatile.Read(ref _clientBytes);

    public long BackendBytes => Volatile.Read(ref _backendBytes);

    public long ClientMessages => Volatile.Read(ref _clientMessages);

    public long BackendMessages => Volatile.Read(ref _backendMessages);

    /// <summary>Last bytes from the client (any frame: data, control, or a pong to the gateway).</summary>
    public long LastInboundTimestamp => Volatile.Read(ref _lastInbound);

    /// <summary>Last bytes toward the client from the backend.</summary>
    public long LastOutboundTimestamp => Volatile.Read(ref _lastOutbound);

    /// <summary>Last application message (text or binary, completed) in either direction.</summary>
    public long LastMessageTimestamp => Volatile.Read(ref _lastMessage);

    /// <summary>When the client last answered a gateway ping; 0 if never.</summary>
    public long LastPongTimestamp => Volatile.Read(ref _lastPong);

    /// <summary>When the outstanding gateway ping was sent; 0 when none is outstanding.</summary>
    public long PingSentTimestamp => Volatile.Read(ref _pingSent);

    public bool PingOutstanding => Volatile.Read(ref _pingSent) != 0;

    /// <summary>Last measured ping round trip, in timestamp ticks; 0 until a pong has come back.</summary>
    public long RoundTripTicks => Volatile.Read(ref _roundTrip);

    /// <summary>Status of the client's first close frame, or null.</summary>
    public int? ClientCloseStatus => Volatile.Read(ref _clientCloseStatus) is var status && status >= 0 ? status : null;

    /// <summary>Status of the backend's first close frame, or null.</summary>
    public int? BackendCloseStatus => Volatile.Read(ref _backendCloseStatus) is var status && status >= 0 ? status : null;

    /// <summary>Which side sent the first close frame, if any did.</summary>
    public SessionSide CloseInitiator => (SessionSide)Volatile.Read(ref _closeInitiator);

    /// <summary>Why the gateway itself closed the session (eviction, refused frame), or null.</summary>
    public SessionCloseReason? GatewayCloseReason => Volatile.Read(ref _gatewayClose) is var value && value != 0 ? (SessionCloseReason)(value - 1) : null;

    /// <summary>When a gateway-initiated close gives up on the handshake and aborts; 0 when none is under way.</summary>
    public long CloseDeadline => Volatile.Read(ref _closeDeadline);

    public bool HasEnded => (Volatile.Read(ref _flags) & EndedFlag) != 0;

    /// <summary>The client's transport ended: end of stream, a failed read or a failed write.</summary>
    public bool ClientGone => (Volatile.Read(ref _flags) & ClientGoneFlag) != 0;

    /// <summary>The heartbeat's view of the session; only its ticker writes it.</summary>
    internal SessionTier Tier;

    internal void MarkClientGone() => Interlocked.Or(ref _flags, ClientGoneFlag);

    /// <summary>Marks the session ended; true only for the first caller.</summary>
    internal bool TryEnd() => (Interlocked.Or(ref _flags, EndedFlag) & EndedFlag) == 0;

    /// <summary>Accounts what one read from the client carried (called by the client-to-backend relay only).</summary>
    internal void RecordInbound(int bytes, in ClientFilterResult result, long timestamp)
    {
        Volatile.Write(ref _clientBytes, _clientBytes + bytes);
        Volatile.Write(ref _lastInbound, timestamp);
        if (result.Messages > 0)
        {
            Volatile.Write(ref _clientMessages, _clientMessages + result.Messages);
            Volatile.Write(ref _lastMessage, timestamp);
        }

        if (result.PongTimestamp != 0)
        {
            var roundTrip = timestamp - result.PongTimestamp;
            if (roundTrip >= 0)
            {
                Volatile.Write(ref _roundTrip, roundTrip);
            }

            Volatile.Write(ref _lastPong, timestamp);
        }

        if (result.Frames > 0 && Volatile.Read(ref _pingSent) != 0)
        {
            // Any frame from the client proves it alive: the probe is answered.
            Volatile.Write(ref _pingSent, 0);
        }
    }

    /// <summary>Accounts what one write toward the client carried (called by the backend-to-client relay only).</summary>
    internal void RecordOutbound(int bytes, int messages, long timestamp)
    {
        Volatile.Write(ref _backendBytes, _backendBytes + bytes);
        Volatile.Write(ref _lastOutbound, timestamp);
        if (messages > 0)
        {
            Volatile.Write(ref _backendMessages, _backendMessages + messages);
            Volatile.Write(ref _lastMessage, timestamp);
        }
    }

    internal void RecordClientClose(int status)
    {
        if (Interlocked.CompareExchange(ref _clientCloseStatus, status, -1) == -1)
        {
            Interlocked.CompareExchange(ref _closeInitiator, (int)SessionSide.Client, 0);
        }
    }

    internal void RecordBackendClose(int status)
    {
        if (Interlocked.CompareExchange(ref _backendCloseStatus, status, -1) == -1)
        {
            Interlocked.CompareExchange(ref _closeInitiator, (int)SessionSide.Backend, 0);
        }
    }

    internal void RecordPingSent(long timestamp) => Volatile.Write(ref _pingSent, timestamp);

    /// <summary>
    /// Records that the gateway is closing the session itself; true only for the first close. Until the
    /// <paramref name="deadline"/> the close handshake may complete; after it the scheduler aborts.
    /// </summary>
    internal bool TryBeginGatewayClose(SessionCloseReason reason, long deadline)
    {
        if (Interlocked.CompareExchange(ref _gatewayClose, (int)reason + 1, 0) != 0)
        {
            return false;
        }

        Volatile.Write(ref _closeDeadline, deadline);
        return true;
    }
}

/// <summary>
/// Where a session goes and under which rules: route, cluster, destination, fallback, policy. The same for
/// every session of a route on a destination, so one instance is shared by all of them (a session holds one
/// reference instead of five fields).
/// </summary>
internal sealed class SessionBinding
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Key, SessionBinding> Shared = new();

    /// <summary>Past this many (a long run of reloads and rollouts), the cache starts over.</summary>
    private const int MaxShared = 4096;

    private SessionBinding(Key key)
    {
        RouteId = key.RouteId;
        ClusterId = key.ClusterId;
        DestinationId = key.DestinationId;
        Degraded = key.Degraded;
        Policy = key.Policy;
    }

    public string RouteId { get; }

    public string ClusterId { get; }

    public string? DestinationId { get; }

    public bool Degraded { get; }

    public SessionRoutePolicy Policy { get; }

    public static SessionBinding Of(in SessionStartInfo info)
    {
        var key = new Key(info.RouteId, info.ClusterId, info.DestinationId, info.Degraded, info.Policy ?? SessionRoutePolicy.Default);
        if (Shared.TryGetValue(key, out var binding))
        {
            return binding;
        }

        if (Shared.Count >= MaxShared)
        {
            Shared.Clear();
        }

        return Shared.GetOrAdd(key, static key => new SessionBinding(key));
    }

    private readonly record struct Key(string RouteId, string ClusterId, string? DestinationId, bool Degraded, SessionRoutePolicy Policy);
}

/// <summary>Where a session stands for the heartbeat scheduler; the <c>tier</c> label of the sessions-by-tier gauge.</summary>
internal enum SessionTier : byte
{
    /// <summary>Carried an application message within the probe interval.</summary>
    Active,

    /// <summary>A gateway ping is outstanding.</summary>
    Probing,

    /// <summary>Answers pings but carries no application messages.</summary>
    Idle,

    /// <summary>The gateway is closing it.</summary>
    Closing,
}

/// <summary>How the gateway acts on a session's streams; implemented by the relay (the session stream).</summary>
internal interface ISessionChannel
{
    /// <summary>Queues a ping to the client at the next frame boundary; false if one cannot be sent now.</summary>
    bool SendPing(long timestamp);

    /// <summary>
    /// Closes the session from the gateway: a close frame with <paramref name="status"/> and
    /// <paramref name="reason"/> to the client and 1001 to the backend, each at its stream's next frame boundary.
    /// The peers' close replies end the relay; <see cref="Abort"/> is for when they do not come.
    /// </summary>
    void Close(int status, string reason);

    /// <summary>
    /// Ends the session backend first (a drain): the client's frames stop being passed on, the backend gets close
    /// 1001 with <paramref name="reason"/> after the last whole frame accepted from the client, and its answer (what
    /// it still sends, then its close frame) reaches the client as usual. Nothing accepted in either direction is
    /// lost; <see cref="Abort"/> is for when the answer does not come.
    /// </summary>
    void GoAway(string reason);

    /// <summary>Aborts the client's transport now (a close handshake that did not finish in time).</summary>
    void Abort();
}
