using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Relay;

/// <summary>
/// A client connection of a listener with the lean path, as Kestrel's HTTP layer sees it during the handshake, and
/// the place where a request hands its session over when the HTTP layer lets go (a request feature: request
/// features fall back to the connection's).
/// </summary>
/// <remarks>
/// Everything is the connection's own except the heartbeat feature. Kestrel's HTTP connection registers a callback
/// with the connection's heartbeat that it never removes, and through it the connection would keep the whole
/// HTTP/1.1 state (parser, header collections, the request's features, ~9 KB) for as long as the socket lives,
/// long after the request ended. So the HTTP layer registers here; this object forwards the connection's ticks to
/// it while it is in charge and forgets it when it returns (<see cref="LeaveHttpLayer"/>).
/// </remarks>
internal sealed class LeanConnection : ConnectionContext, IConnectionHeartbeatFeature
{
    private readonly ConnectionContext _connection;
    private IFeatureCollection _features;
    private List<(Action<object> Handler, object State)>? _httpTicks;
    private LeanSession? _session;

    public LeanConnection(ConnectionContext connection)
    {
        _connection = connection;
        var features = new FeatureCollection(connection.Features);
        features.Set<IConnectionHeartbeatFeature>(this);
        features.Set(this);
        _features = features;
        connection.Features.Get<IConnectionHeartbeatFeature>()?.OnHeartbeat(static state => ((LeanConnection)state).Tick(), this);
    }

    /// <summary>Called when the session's handshake is done; the session runs once the HTTP layer has returned.</summary>
    public void Handover(LeanSession session)
    {
        if (Interlocked.CompareExchange(ref _session, session, null) is not null)
        {
            throw new InvalidOperationException("A connection carries one session.");
        }
    }

    /// <summary>The HTTP layer has returned: its heartbeat callback and feature view go, and the session (if any) is taken.</summary>
    public LeanSession? LeaveHttpLayer()
    {
        lock (_connection)
        {
            _httpTicks = null;
        }

        _features = _connection.Features;
        return Interlocked.Exchange(ref _session, null);
    }

    private void Tick()
    {
        List<(Action<object> Handler, object State)>? ticks;
        lock (_connection)
        {
            ticks = _httpTicks;
            if (ticks is null)
            {
                return;
            }

            foreach (var (handler, state) in ticks)
            {
                handler(state);
            }
        }
    }

    void IConnectionHeartbeatFeature.OnHeartbeat(Action<object> action, object state)
    {
        lock (_connection)
        {
            (_httpTicks ??= []).Add((action, state));
        }
    }

    public override string ConnectionId
    {
        get => _connection.ConnectionId;
        set => _connection.ConnectionId = value;
    }

    public override IFeatureCollection Features => _features;

    public override IDictionary<object, object?> Items
    {
        get => _connection.Items;
        set => _connection.Items = value;
    }

    public override IDuplexPipe Transport
    {
        get => _connection.Transport;
        set => _connection.Transport = value;
    }

    public override CancellationToken ConnectionClosed
    {
        get => _connection.ConnectionClosed;
        set => _connection.ConnectionClosed = value;
    }

    public override EndPoint? LocalEndPoint
    {
        get => _connection.LocalEndPoint;
        set => _connection.LocalEndPoint = value;
    }

    public override EndPoint? RemoteEndPoint
    {
        get => _connection.RemoteEndPoint;
        set => _connection.RemoteEndPoint = value;
    }

    public override void Abort(ConnectionAbortedException abortReason) => _connection.Abort(abortReason);

    public override void Abort() => _connection.Abort();

    // The connection is Kestrel's to dispose, after the connection middleware returns.
#pragma warning disable CA2215
    public override ValueTask DisposeAsync() => default;
#pragma warning restore CA2215
}
