using System.Net;
using Gateway.Frames;

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
    private SessionEnd? _gatewayEnd;
    private long _lastInbound;
    private long _pingSent;
    private long _backendWriteWaitingSince;
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
    private int _closeInitiator;
    private int _clientCloseStatus = -1;
    private int _backendCloseStatus = -1;

    // The session's close state, one word both legs of the relay share (set with atomic ORs, never cleared).
    private const int EndedFlag = 1;
    private const int ClientGoneFlag = 2;
    private const int ClientStreamEndedFlag = 4;
    private const int GoingAwayFlag = 8;
    private const int ClientCloseSentFlag = 16;
    private const int BackendCloseSentFlag = 32;

    /// <summary>The channel has been told of the gateway's close (by <see cref="BeginClose"/> or <see cref="AttachChannel"/>, whichever came second).</summary>
    private const int CloseDeliveredFlag = 64;

    /// <summary>The end reason (plus one) sits in the flags' second byte, written with the ended flag.</summary>
    private const int EndReasonShift = 8;

    public Session(long id, in SessionStartInfo info, long startTimestamp)
        : this(id, SessionBinding.Of(info), info.ClientAddress, info.ClientPort, info.Protocol, startTimestamp, info.Path)
    {
    }

    internal Session(long id, SessionBinding binding, IPAddress? clientAddress, int clientPort, SessionProtocol protocol, long startTimestamp, SessionPath path = SessionPath.Yarp)
    {
        Path = path;
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

    public string? DestinationAddress => _binding.DestinationAddress;

    public IPAddress? ClientAddress { get; }

    public int ClientPort { get; }

    public SessionProtocol Protocol { get; }

    /// <summary>Where the session's relay runs: in the request (YARP) or at the connection level (lean).</summary>
    public SessionPath Path { get; }

    /// <summary>Served by the route's fallback cluster because its own cluster had no destination available.</summary>
    public bool Degraded => _binding.Degraded;

    /// <summary>The route's frame limits and heartbeat timings, resolved when the session opened.</summary>
    public SessionRoutePolicy Policy => _binding.Policy;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when the upgrade completed.</summary>
    public long StartTimestamp { get; }

    /// <summary>How the gateway reaches the session's streams (pings, closes); null until the relay starts.</summary>
    public ISessionChannel? Channel
    {
        get => Volatile.Read(ref _channel);
        internal set => Volatile.Write(ref _channel, value);
    }

    private ISessionChannel? _channel;

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

    /// <summary>
    /// When the relay's write of client bytes to the backend began waiting (the backend's buffers full, it is not
    /// reading); 0 while no write waits. Lets the heartbeat tell a stalled backend from an unresponsive client.
    /// </summary>
    public long BackendWriteWaitingSince => Volatile.Read(ref _backendWriteWaitingSince);

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
    public SessionCloseReason? GatewayCloseReason => GatewayEnd?.Reason;

    /// <summary>
    /// The row of the session-end table the gateway's own close follows, or null: one of <see cref="SessionEnds"/>, or an
    /// operator's close with the status and reason asked for (<see cref="SessionEnds.ByOperator"/>).
    /// </summary>
    public SessionEnd? GatewayEnd => Volatile.Read(ref _gatewayEnd);

    /// <summary>When a gateway-initiated close gives up on the handshake and aborts; 0 when none is under way.</summary>
    public long CloseDeadline => Volatile.Read(ref _closeDeadline);

    public bool HasEnded => (Volatile.Read(ref _flags) & EndedFlag) != 0;

    /// <summary>
    /// Ended, or on its way: the gateway is closing it, or a peer's close is under way (its close frames are relayed; a
    /// close of the gateway's after them would be a frame after a close). Another close has nothing left to do.
    /// </summary>
    public bool IsEnding => HasEnded || GatewayEnd is not null || BackendCloseStatus is not null || ClientCloseStatus is not null;

    /// <summary>Why the session ended, once it has (what the registry recorded).</summary>
    public SessionCloseReason? EndReason => Volatile.Read(ref _flags) is var flags && (flags & EndedFlag) != 0 ? (SessionCloseReason)((flags >> EndReasonShift) - 1) : null;

    /// <summary>The client's transport ended: end of stream, a failed read or a failed write.</summary>
    public bool ClientGone => (Volatile.Read(ref _flags) & ClientGoneFlag) != 0;

    /// <summary>Nothing more from the client goes to the backend (its end of stream, a refused frame, a gateway close).</summary>
    public bool ClientStreamEnded => (Volatile.Read(ref _flags) & ClientStreamEndedFlag) != 0;

    /// <summary>Told to go away backend first (a drain): the client's stream ends at its next frame boundary.</summary>
    public bool GoingAway => (Volatile.Read(ref _flags) & GoingAwayFlag) != 0;

    /// <summary>A close frame of the gateway's has been written to <paramref name="side"/>: nothing may follow it there.</summary>
    public bool CloseSentTo(SessionSide side) => (Volatile.Read(ref _flags) & CloseSentFlag(side)) != 0;

    /// <summary>Ends the client's stream toward the backend; true for the call that ended it.</summary>
    internal bool EndClientStream() => (Interlocked.Or(ref _flags, ClientStreamEndedFlag) & ClientStreamEndedFlag) == 0;

    internal void MarkGoingAway() => Interlocked.Or(ref _flags, GoingAwayFlag);

    internal void MarkCloseSent(SessionSide side) => Interlocked.Or(ref _flags, CloseSentFlag(side));

    private static int CloseSentFlag(SessionSide side) => side == SessionSide.Client ? ClientCloseSentFlag : BackendCloseSentFlag;

    /// <summary>The heartbeat's view of the session; only its ticker writes it.</summary>
    internal SessionTier Tier;

    internal void MarkClientGone() => Interlocked.Or(ref _flags, ClientGoneFlag);

    /// <summary>Marks the session ended, for <paramref name="reason"/>; true only for the first caller.</summary>
    internal bool TryEnd(SessionCloseReason reason)
    {
        var flags = Volatile.Read(ref _flags);
        while ((flags & EndedFlag) == 0)
        {
            var seen = Interlocked.CompareExchange(ref _flags, flags | EndedFlag | (((int)reason + 1) << EndReasonShift), flags);
            if (seen == flags)
            {
                return true;
            }

            flags = seen;
        }

        return false;
    }

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

    internal void RecordBackendWriteWaiting(long timestamp) => Volatile.Write(ref _backendWriteWaitingSince, Math.Max(timestamp, 1));

    internal void RecordBackendWriteDone()
    {
        // Read first: the common case (no write ever waited) writes nothing.
        if (Volatile.Read(ref _backendWriteWaitingSince) != 0)
        {
            Volatile.Write(ref _backendWriteWaitingSince, 0);
        }
    }

    /// <summary>
    /// The one way the gateway starts a session's end: records why (the first close wins; true only for it) and until
    /// when the close handshake may take (then the heartbeat aborts the connection), and has the relay tell the peers
    /// what the row of the session-end table says. A session whose relay has not started yet (the moment between
    /// its 101 and its relay on the lean path) is told when it attaches its channel.
    /// </summary>
    /// <param name="detail">The reason the peers read where the row leaves it open (the rule a refused frame broke).</param>
    /// <param name="tickLength">The heartbeat's tick, for ends that abort one tick after their close.</param>
    internal bool BeginClose(SessionCloseReason reason, long now, string? detail = null, long tickLength = 0)
        => BeginCloseWith(SessionEnds.Of(reason), now, detail, tickLength);

    /// <summary>As <see cref="BeginClose"/>, with the row itself (an operator's close carries its own status).</summary>
    internal bool BeginCloseWith(SessionEnd end, long now, string? detail = null, long tickLength = 0)
    {
        var deadline = now + (end.AbortAfterOneTick && tickLength > 0 ? tickLength : Policy.CloseTimeout);
        if (!TryBeginGatewayClose(end, deadline))
        {
            return false;
        }

        Tier = SessionTier.Closing;
        // The close was recorded with a full fence (the compare-and-swap); the channel is read after it. A channel that
        // attaches meanwhile stores itself, then reads the close: one of the two sees the other, and the flag makes
        // sure the channel is told once.
        if (Channel is { } channel && TryDeliverClose())
        {
            channel.Close(end, detail);
        }

        return true;
    }

    /// <summary>The relay's client leg is in place: from now on the gateway acts through it (a close begun before is carried out now).</summary>
    internal void AttachChannel(ISessionChannel channel)
    {
        Interlocked.Exchange(ref _channel, channel);
        if (GatewayEnd is { } end && TryDeliverClose())
        {
            channel.Close(end, null);
        }
    }

    private bool TryDeliverClose() => (Interlocked.Or(ref _flags, CloseDeliveredFlag) & CloseDeliveredFlag) == 0;

    /// <summary>
    /// Records that the gateway is closing the session itself; true only for the first close. Until the
    /// <paramref name="deadline"/> the close handshake may complete; after it the scheduler aborts.
    /// </summary>
    internal bool TryBeginGatewayClose(SessionCloseReason reason, long deadline) => TryBeginGatewayClose(SessionEnds.Of(reason), deadline);

    private bool TryBeginGatewayClose(SessionEnd end, long deadline)
    {
        if (Interlocked.CompareExchange(ref _gatewayEnd, end, null) is not null)
        {
            return false;
        }

        Volatile.Write(ref _closeDeadline, deadline);
        return true;
    }
}
