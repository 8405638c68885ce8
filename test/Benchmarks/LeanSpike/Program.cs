// The spike of issue 13 (kept as a benchmark, not product code). One process, one mode:
//   request         the relay runs inside the request on Kestrel's upgraded stream (what YARP does: every HTTP
//                   object of the request lives as long as the session);
//   detach          the request ends after the 101; the relay runs in connection middleware on the connection's
//                   own transport, and Kestrel's HTTP layer sees the connection's real features;
//   detach-hidden   the same, but the HTTP layer gets its own heartbeat feature, which the connection drops when
//                   the request has ended (Kestrel's HttpConnection registers a heartbeat callback that it never
//                   removes, so through the real feature the connection would keep the whole HTTP/1.1 state).
// The backend leg is a plain socket in every mode: the upgrade request is written and the 101 parsed here.
// Usage: LeanSpike <mode> <backend port>; prints "lean-spike listening on port N".
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

var mode = args[0];
var backendPort = int.Parse(args[1]);
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, 0, listen =>
    {
        listen.Protocols = HttpProtocols.Http1;
        if (mode != "request")
        {
            listen.Use(next => connection => Detached.RunAsync(connection, next, hideHeartbeat: mode == "detach-hidden"));
        }
    });
});
var app = builder.Build();
app.Run(async context =>
{
    if (!string.Equals(context.Request.Headers.Upgrade, "websocket", StringComparison.OrdinalIgnoreCase))
    {
        context.Response.StatusCode = 404;
        return;
    }

    var (backend, leftover) = await Backend.HandshakeAsync(context, backendPort);
    var upgrade = context.Features.Get<IHttpUpgradeFeature>()!;
    var clientStream = await upgrade.UpgradeAsync();
    if (context.Features.Get<Detached>() is { } detached)
    {
        detached.Handover(backend, leftover);
        return;
    }

    await Relay.OverStreamAsync(clientStream, backend, leftover);
});
await app.StartAsync();
var port = new Uri(app.Urls.First()).Port;
Console.WriteLine($"lean-spike listening on port {port}");
await app.WaitForShutdownAsync();

static class Backend
{
    public static async Task<(Socket, byte[]?)> HandshakeAsync(HttpContext context, int port)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        var request = new StringBuilder();
        request.Append("GET ").Append(context.Request.Path).Append(" HTTP/1.1\r\nHost: 127.0.0.1:").Append(port).Append("\r\n");
        foreach (var name in new[] { "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions" })
        {
            if (context.Request.Headers.TryGetValue(name, out var value))
            {
                request.Append(name).Append(": ").Append(value.ToString()).Append("\r\n");
            }
        }

        request.Append("\r\n");
        await socket.SendAsync(Encoding.ASCII.GetBytes(request.ToString()));
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            var filled = 0;
            int end;
            while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(filled));
                if (read == 0)
                {
                    throw new IOException("backend closed during the handshake");
                }

                filled += read;
            }

            var head = Encoding.ASCII.GetString(buffer, 0, end);
            var lines = head.Split("\r\n");
            if (!lines[0].StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
            {
                throw new IOException("backend refused: " + lines[0]);
            }

            foreach (var line in lines.Skip(1))
            {
                var colon = line.IndexOf(':');
                var name = line[..colon];
                if (name is "Sec-WebSocket-Accept" or "Sec-WebSocket-Protocol" or "Sec-WebSocket-Extensions" or "Upgrade")
                {
                    context.Response.Headers[name] = line[(colon + 1)..].Trim();
                }
            }

            var rest = filled - (end + 4);
            return (socket, rest > 0 ? buffer.AsSpan(end + 4, rest).ToArray() : null);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

static class Relay
{
    // Both directions wait with zero-byte reads and hold no buffer while idle.
    public static async Task OverStreamAsync(Stream client, Socket backend, byte[]? leftover)
    {
        if (leftover is not null)
        {
            await client.WriteAsync(leftover);
        }

        var toBackend = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    await client.ReadAsync(Memory<byte>.Empty);
                    var buffer = ArrayPool<byte>.Shared.Rent(4096);
                    var read = await client.ReadAsync(buffer);
                    if (read == 0)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        break;
                    }

                    await backend.SendAsync(buffer.AsMemory(0, read));
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            catch (Exception) { }
            backend.Shutdown(SocketShutdown.Send);
        });
        try
        {
            while (true)
            {
                await backend.ReceiveAsync(Memory<byte>.Empty);
                var buffer = ArrayPool<byte>.Shared.Rent(4096);
                var read = await backend.ReceiveAsync(buffer);
                if (read == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }

                await client.WriteAsync(buffer.AsMemory(0, read));
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (Exception) { }
        await toBackend;
        backend.Dispose();
    }

    public static async Task OverTransportAsync(IDuplexPipe client, Socket backend, byte[]? leftover)
    {
        var toBackend = ToBackendAsync(client.Input, backend);
        try
        {
            if (leftover is not null)
            {
                await client.Output.WriteAsync(leftover);
            }

            while (true)
            {
                await backend.ReceiveAsync(Memory<byte>.Empty);
                var memory = client.Output.GetMemory(4096);
                var read = await backend.ReceiveAsync(memory);
                if (read == 0)
                {
                    break;
                }

                client.Output.Advance(read);
                var flush = await client.Output.FlushAsync();
                if (flush.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception) { }
        client.Input.CancelPendingRead();
        await toBackend;
        backend.Dispose();
    }

    private static async Task ToBackendAsync(PipeReader input, Socket backend)
    {
        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    await backend.SendAsync(segment);
                }

                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception) { }
        try { backend.Shutdown(SocketShutdown.Send); } catch (Exception) { }
    }
}

/// <summary>What a request hands to its connection, and the HTTP layer's view of the connection.</summary>
sealed class Detached : ConnectionContext, IConnectionHeartbeatFeature
{
    private readonly ConnectionContext _inner;
    private readonly FeatureCollection _features;
    private Action<object>? _tick;
    private object? _tickState;
    private Socket? _backend;
    private byte[]? _leftover;

    private Detached(ConnectionContext inner, bool hideHeartbeat)
    {
        _inner = inner;
        _features = new FeatureCollection(inner.Features);
        _features.Set(this);
        if (hideHeartbeat)
        {
            _features.Set<IConnectionHeartbeatFeature>(this);
            inner.Features.Get<IConnectionHeartbeatFeature>()!.OnHeartbeat(static state => ((Detached)state).Tick(), this);
        }
    }

    public static async Task RunAsync(ConnectionContext connection, ConnectionDelegate next, bool hideHeartbeat)
    {
        var detached = new Detached(connection, hideHeartbeat);
        await next(detached);
        detached._tick = null;
        detached._tickState = null;
        if (detached._backend is { } backend)
        {
            var leftover = detached._leftover;
            detached._backend = null;
            detached._leftover = null;
            await Relay.OverTransportAsync(connection.Transport, backend, leftover);
        }
    }

    public void Handover(Socket backend, byte[]? leftover)
    {
        _backend = backend;
        _leftover = leftover;
    }

    private void Tick()
    {
        if (_tick is { } tick)
        {
            tick(_tickState!);
        }
    }

    void IConnectionHeartbeatFeature.OnHeartbeat(Action<object> action, object state)
    {
        _tick = action;
        _tickState = state;
    }

    public override string ConnectionId { get => _inner.ConnectionId; set => _inner.ConnectionId = value; }
    public override IFeatureCollection Features => _features;
    public override IDictionary<object, object?> Items { get => _inner.Items; set => _inner.Items = value; }
    public override IDuplexPipe Transport { get => _inner.Transport; set => _inner.Transport = value; }
    public override CancellationToken ConnectionClosed { get => _inner.ConnectionClosed; set => _inner.ConnectionClosed = value; }
    public override EndPoint? LocalEndPoint { get => _inner.LocalEndPoint; set => _inner.LocalEndPoint = value; }
    public override EndPoint? RemoteEndPoint { get => _inner.RemoteEndPoint; set => _inner.RemoteEndPoint = value; }
    public override void Abort(ConnectionAbortedException abortReason) => _inner.Abort(abortReason);
    public override void Abort() => _inner.Abort();
    public override ValueTask DisposeAsync() => default;
}
