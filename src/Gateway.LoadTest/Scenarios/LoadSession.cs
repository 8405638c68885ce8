using System.Diagnostics;
using System.Net.WebSockets;
using Gateway.LoadTest.Metrics;
using Gateway.LoadTest.Net;

namespace Gateway.LoadTest.Scenarios;

/// <summary>
/// One open client session: its socket, one receive buffer and one send buffer for its whole life, and one
/// receive loop. Sends come from the command's single scheduler loop, never from the session itself.
/// </summary>
internal sealed class LoadSession
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    private readonly byte[] _receiveBuffer;
    private readonly RunMetrics _metrics;
    private readonly bool _timestamps;
    private readonly bool _text;
    private readonly Reconnect.MessageSequence? _sequence;
    private Task? _pendingSend;
    private volatile bool _closing;
    private volatile bool _ended;

    /// <param name="sequence">echo --reconnect: the client's message numbers (bytes 16-23 of each message), or null.</param>
    public LoadSession(ClientWebSocket socket, RunMetrics metrics, int receiveBufferSize, byte[]? sendBuffer, bool timestamps, bool text, Reconnect.MessageSequence? sequence = null)
    {
        _text = text;
        _sequence = sequence;
        Socket = socket;
        _metrics = metrics;
        _receiveBuffer = new byte[Math.Max(receiveBufferSize, 64)];
        SendBuffer = sendBuffer;
        _timestamps = timestamps;
        ReceiveLoop = Task.Run(ReceiveLoopAsync);
    }

    public ClientWebSocket Socket { get; }

    public byte[]? SendBuffer { get; }

    public Task ReceiveLoop { get; }

    /// <summary>The session ended before the tool closed it (closed by the server, or dropped).</summary>
    public bool Ended => _ended;

    /// <summary>Why the session ended, once <see cref="Ended"/>: the server's close code (<c>close_1012</c>) or <c>dropped</c>.</summary>
    public string EndCause => ServerCloseStatus is { } status ? $"close_{status}" : "dropped";

    /// <summary>The server's close code and reason, when it closed the session.</summary>
    public int? ServerCloseStatus { get; private set; }

    public string? ServerCloseReason { get; private set; }

    public bool IsOpen => !_ended && Socket.State == WebSocketState.Open;

    /// <summary>Whether a send may start now: the previous one (if any) has completed. A failed send ends the session.</summary>
    public bool ReadyToSend
    {
        get
        {
            if (_pendingSend is { } pending)
            {
                if (!pending.IsCompleted)
                {
                    return false;
                }

                _pendingSend = null;
                if (!pending.IsCompletedSuccessfully)
                {
                    SendFailed(pending.Exception?.InnerException ?? new OperationCanceledException());
                }
            }

            return IsOpen;
        }
    }

    public Task PendingSend => _pendingSend ?? Task.CompletedTask;

    /// <summary>Sends <paramref name="payload"/> as one message; the caller
    /// has checked <see cref="ReadyToSend"/>. No allocation when the send completes synchronously (the usual case).</summary>
    public void Send(ReadOnlyMemory<byte> payload, WebSocketMessageType type)
    {
        try
        {
            var send = Socket.SendAsync(payload, type, endOfMessage: true, CancellationToken.None);
            if (send.IsCompletedSuccessfully)
            {
                send.GetAwaiter().GetResult();
            }
            else
            {
                _pendingSend = send.AsTask();
            }
        }
        catch (Exception exception) when (exception is WebSocketException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            SendFailed(exception);
        }
    }

    /// <summary>The close handshake (1000), then the receive loop's end; aborts if either takes too long.</summary>
    public async Task CloseAsync()
    {
        _closing = true;
        try
        {
            await PendingSend.WaitAsync(CloseTimeout);
            if (Socket.State == WebSocketState.Open)
            {
                await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).WaitAsync(CloseTimeout);
            }

            await ReceiveLoop.WaitAsync(CloseTimeout);
        }
        catch (Exception exception) when (exception is WebSocketException or IOException or TimeoutException or ObjectDisposedException or OperationCanceledException)
        {
            _metrics.Error("close_" + exception.GetType().Name);
            Socket.Abort();
        }
        finally
        {
            Socket.Dispose();
        }
    }

    private void SendFailed(Exception exception)
    {
        if (!_closing && !_ended)
        {
            _metrics.Error("send_" + exception.GetType().Name);
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = _receiveBuffer;
        var offset = 0;
        try
        {
            while (true)
            {
                // Never cancelled: cancelling a pending receive aborts a ClientWebSocket; the close ends it.
                var result = await Socket.ReceiveAsync(buffer.AsMemory(offset), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (!_closing)
                    {
                        ServerCloseStatus = (int?)Socket.CloseStatus;
                        ServerCloseReason = Socket.CloseStatusDescription;
                        _ended = true;
                        _metrics.ServerClosed((int?)Socket.CloseStatus);
                        await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                    }

                    return;
                }

                offset += result.Count;
                if (!result.EndOfMessage)
                {
                    // Longer than the buffer: keep the 16-byte timestamp header, drop the rest.
                    if (offset == buffer.Length)
                    {
                        offset = Math.Min(_sequence is null ? 2 * MessageTimestamp.Size : Reconnect.MessageSequence.End, buffer.Length);
                    }

                    continue;
                }

                if (_timestamps && offset >= MessageTimestamp.Size)
                {
                    var now = Stopwatch.GetTimestamp();
                    var intended = MessageTimestamp.Read(buffer, _text);
                    var actual = offset >= 2 * MessageTimestamp.Size ? MessageTimestamp.Read(buffer.AsSpan(MessageTimestamp.Size), _text) : -1;
                    _metrics.MessageReceived(Clock.Microseconds(now - intended), actual >= 0 ? Clock.Microseconds(now - actual) : -1);
                }

                if (_sequence is not null && offset >= Reconnect.MessageSequence.End)
                {
                    _sequence.Echoed(MessageTimestamp.Read(buffer.AsSpan(Reconnect.MessageSequence.Offset), _text));
                }

                offset = 0;
            }
        }
        catch (Exception exception) when (exception is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            if (!_closing)
            {
                _ended = true;
                _metrics.ServerClosed(null);
                _metrics.Error("receive_" + exception.GetType().Name);
            }
        }
        finally
        {
            _sequence?.ConnectionEnded();
            _metrics.SessionEnded();
        }
    }
}
