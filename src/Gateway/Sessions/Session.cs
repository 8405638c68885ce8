using System.Net;

namespace Gateway.Sessions;

/// <summary>
/// One live WebSocket relayed by the gateway. The relay's two copy loops are the only writers of their own
/// leg (<see cref="ClientLeg"/> by the client-to-backend reader, <see cref="BackendLeg"/> by the
/// backend-to-client writer), so counting needs no lock; other threads read with <see cref="Volatile"/>.
/// </summary>
internal sealed class Session
{
    private int _closeInitiator;
    private int _ended;
    private int _clientGone;

    /// <summary>Bytes and frames the client sent.</summary>
    internal SessionLeg ClientLeg;

    /// <summary>Bytes and frames the backend sent.</summary>
    internal SessionLeg BackendLeg;

    public Session(long id, in SessionStartInfo info, long startTimestamp, DateTimeOffset startedAt)
    {
        Id = id;
        RouteId = info.RouteId;
        ClusterId = info.ClusterId;
        DestinationId = info.DestinationId;
        ClientAddress = info.ClientAddress;
        ClientPort = info.ClientPort;
        Protocol = info.Protocol;
        Degraded = info.Degraded;
        StartTimestamp = startTimestamp;
        StartedAt = startedAt;
        // Struct fields of a class start zeroed; the leg's constructor sets its "no close seen" marker.
        ClientLeg = new SessionLeg { LastActivityTimestamp = startTimestamp };
        BackendLeg = new SessionLeg { LastActivityTimestamp = startTimestamp };
    }

    public long Id { get; }

    public string RouteId { get; }

    public string ClusterId { get; }

    public string? DestinationId { get; }

    public IPAddress? ClientAddress { get; }

    public int ClientPort { get; }

    public SessionProtocol Protocol { get; }

    /// <summary>Served by the route's fallback cluster because its own cluster had no destination available.</summary>
    public bool Degraded { get; }

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when the upgrade completed.</summary>
    public long StartTimestamp { get; }

    public DateTimeOffset StartedAt { get; }

    public long ClientBytes => Volatile.Read(ref ClientLeg.Bytes);

    public long BackendBytes => Volatile.Read(ref BackendLeg.Bytes);

    public long ClientMessages => Volatile.Read(ref ClientLeg.Messages);

    public long BackendMessages => Volatile.Read(ref BackendLeg.Messages);

    public long LastClientActivityTimestamp => Volatile.Read(ref ClientLeg.LastActivityTimestamp);

    public long LastBackendActivityTimestamp => Volatile.Read(ref BackendLeg.LastActivityTimestamp);

    /// <summary>Which side sent the first close frame, if any did.</summary>
    public SessionSide CloseInitiator => (SessionSide)Volatile.Read(ref _closeInitiator);

    public bool HasEnded => Volatile.Read(ref _ended) != 0;

    /// <summary>The client's transport ended: end of stream, a failed read or a failed write.</summary>
    public bool ClientGone => Volatile.Read(ref _clientGone) != 0;

    internal void MarkClientGone() => Volatile.Write(ref _clientGone, 1);

    /// <summary>Accounts bytes read from the client. Returns the number of messages they completed.</summary>
    internal long OnClientData(ReadOnlySpan<byte> data, long timestamp) => Observe(ref ClientLeg, SessionSide.Client, data, timestamp);

    /// <summary>Accounts bytes the backend sent toward the client. Returns the number of messages they completed.</summary>
    internal long OnBackendData(ReadOnlySpan<byte> data, long timestamp) => Observe(ref BackendLeg, SessionSide.Backend, data, timestamp);

    /// <summary>Marks the session ended; true only for the first caller.</summary>
    internal bool TryEnd() => Interlocked.Exchange(ref _ended, 1) == 0;

    private long Observe(ref SessionLeg leg, SessionSide side, ReadOnlySpan<byte> data, long timestamp)
    {
        Volatile.Write(ref leg.Bytes, leg.Bytes + data.Length);
        Volatile.Write(ref leg.LastActivityTimestamp, timestamp);
        var before = leg.Messages;
        var observer = new LegObserver(this, ref leg, side);
        leg.Parser.Parse(data, ref observer);
        return leg.Messages - before;
    }

    private void MarkCloseSent(SessionSide side) => Interlocked.CompareExchange(ref _closeInitiator, (int)side, 0);

    private ref struct LegObserver : IWebSocketFrameHandler
    {
        private readonly Session _session;
        private readonly ref SessionLeg _leg;
        private readonly SessionSide _side;

        public LegObserver(Session session, ref SessionLeg leg, SessionSide side)
        {
            _session = session;
            _leg = ref leg;
            _side = side;
        }

        public readonly void OnFrameHeader(in WebSocketFrameHeader frame)
        {
            if (frame.CompletesMessage)
            {
                Volatile.Write(ref _leg.Messages, _leg.Messages + 1);
            }
            else if (frame.Opcode == WebSocketOpcode.Close && _leg.CloseStatus < 0)
            {
                _session.MarkCloseSent(_side);
                // RFC 6455 §7.1.5: a close frame without a body means "no status received".
                _leg.CloseStatus = frame.PayloadLength >= 2 ? 0 : 1005;
                _leg.CloseStatusBytes = 0;
            }
        }

        public readonly void OnPayload(in WebSocketFrameHeader frame, ReadOnlySpan<byte> payload, ulong offset)
        {
            if (frame.Opcode != WebSocketOpcode.Close || offset >= 2 || _leg.CloseStatusBytes >= 2)
            {
                return;
            }

            for (var i = 0; i < payload.Length && _leg.CloseStatusBytes < 2; i++)
            {
                _leg.CloseStatus = (_leg.CloseStatus << 8) | frame.Unmask(payload[i], offset + (ulong)i);
                _leg.CloseStatusBytes++;
            }
        }

        public readonly void OnFrameEnd(in WebSocketFrameHeader frame)
        {
        }
    }
}

/// <summary>What one direction of a session has carried.</summary>
internal struct SessionLeg
{
    public WebSocketFrameParser Parser;
    public long Bytes;
    public long Messages;
    public long LastActivityTimestamp;

    /// <summary>Status code of the first close frame this side sent; -1 until one is seen.</summary>
    public int CloseStatus = -1;
    public byte CloseStatusBytes;

    public SessionLeg()
    {
    }

    public readonly int? CloseStatusOrNull => CloseStatus < 0 ? null : CloseStatus;
}
