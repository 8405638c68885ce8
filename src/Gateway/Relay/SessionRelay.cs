using System.Buffers;
using System.IO.Pipelines;

namespace Gateway.Relay;

/// <summary>
/// The lean path's relay loop: both directions of one session between its client leg (<see cref="SessionStream"/>
/// over the connection's transport) and its backend leg (<see cref="BackendStream"/> over the lean connector's
/// socket). It ends the way YARP's copy loop ends, which the two legs were built against: the first direction to
/// fail stops the other; a backend that finished first stops the client's side; a client that finished first
/// (its end of stream, a refused frame, a gateway close) leaves the backend time to answer.
/// </summary>
/// <remarks>
/// <para>What YARP's loop costs and this one does not: no timer or <c>CancelAfter</c> per read or write (idle
/// timeouts are the heartbeat's), no cancellation source per session (a direction is stopped by cancelling the
/// pipe's pending read or flush, or by the backend leg's own teardown), and a buffer only while bytes move. Each
/// direction waits with a zero-byte read, then rents <c>bufferSize</c> bytes from the shared pool for one read and
/// its write, and returns them; an idle session holds none, and a mass wake-up (every client answering a drain at
/// once) takes buffers the pool hands back at once instead of 64 KiB per direction held across the writes.</para>
/// </remarks>
internal sealed class SessionRelay
{
    private readonly SessionStream _client;
    private readonly BackendStream _backend;
    private readonly IDuplexPipe _clientTransport;
    private readonly int _bufferSize;
    private int _firstEnded;
    private RelayFault _fault;

    private SessionRelay(SessionStream client, BackendStream backend, IDuplexPipe clientTransport, int bufferSize)
    {
        _client = client;
        _backend = backend;
        _clientTransport = clientTransport;
        _bufferSize = bufferSize;
    }

    /// <summary>Relays until both directions have ended; returns how (the first failure, if any).</summary>
    /// <param name="early">Bytes the backend sent with its 101: the client gets them before anything else.</param>
    public static async Task<RelayFault> RunAsync(SessionStream client, BackendStream backend, IDuplexPipe clientTransport, byte[]? early, int bufferSize)
    {
        var relay = new SessionRelay(client, backend, clientTransport, bufferSize);
        var toClient = relay.BackendToClientAsync(early);
        var fault = await relay.ClientToBackendAsync().ConfigureAwait(false);
        relay.Ended(clientToBackend: true, fault);
        await toClient.ConfigureAwait(false);
        return relay._fault;
    }

    private async Task<RelayFault> ClientToBackendAsync()
    {
        var writing = false;
        try
        {
            while (true)
            {
                writing = false;
                try
                {
                    await _client.ReadAsync(Memory<byte>.Empty).ConfigureAwait(false);
                }
                catch (Exception exception) when (IsClientFailure(exception))
                {
                    // A reset seen while waiting: handled as the session stream handles a failed read, an end of
                    // stream after the backend was told the client went away.
                    _client.EndOfClient();
                }

                var buffer = ArrayPool<byte>.Shared.Rent(_bufferSize);
                try
                {
                    var read = await _client.ReadAsync(buffer.AsMemory(0, _bufferSize)).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return RelayFault.None;
                    }

                    writing = true;
                    await _backend.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception exception) when (!writing && IsClientFailure(exception))
        {
            _client.EndOfClient();
            return RelayFault.ClientRead;
        }
        catch (OperationCanceledException)
        {
            // Stopped because the other direction ended first; its end is the one that counts.
            return RelayFault.None;
        }
        catch (Exception exception) when (IsTransportFailure(exception))
        {
            return writing ? RelayFault.BackendWrite : RelayFault.ClientRead;
        }
    }

    private async Task BackendToClientAsync(byte[]? early)
    {
        var fault = RelayFault.None;
        var writing = false;
        try
        {
            if (early is not null)
            {
                writing = true;
                await _client.WriteAsync(early).ConfigureAwait(false);
            }

            while (true)
            {
                writing = false;
                await _backend.ReadAsync(Memory<byte>.Empty).ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(_bufferSize);
                try
                {
                    var read = await _backend.ReadAsync(buffer.AsMemory(0, _bufferSize)).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }

                    writing = true;
                    await _client.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception exception) when (writing && IsClientFailure(exception))
        {
            fault = RelayFault.ClientWrite;
        }
        catch (OperationCanceledException)
        {
            // Stopped because the other direction failed first.
        }
        catch (Exception exception) when (IsTransportFailure(exception))
        {
            fault = writing ? RelayFault.ClientWrite : RelayFault.BackendRead;
        }

        Ended(clientToBackend: false, fault);
    }

    /// <summary>
    /// One direction has ended. The first to end decides what happens to the other, as YARP's loop does: a failure
    /// stops it; the backend's clean end stops the client's side (no more reads from the client); the client's
    /// clean end leaves the backend's side running until the backend answers (or its leg's close timeout passes).
    /// </summary>
    private void Ended(bool clientToBackend, RelayFault fault)
    {
        if (Interlocked.Exchange(ref _firstEnded, 1) != 0)
        {
            if (_fault == RelayFault.None)
            {
                _fault = fault;
            }

            return;
        }

        _fault = fault;
        if (clientToBackend && fault == RelayFault.None)
        {
            return;
        }

        if (clientToBackend)
        {
            StopBackendToClient();
        }
        else
        {
            StopClientToBackend();
        }
    }

    private void StopClientToBackend()
    {
        _clientTransport.Input.CancelPendingRead();
        // A write to a backend that stopped reading ends with the leg's teardown.
        _backend.OnRelayCancelled();
    }

    private void StopBackendToClient()
    {
        _backend.OnRelayCancelled();
        _clientTransport.Output.CancelPendingFlush();
    }

    /// <summary>The client's connection was reset or aborted (Kestrel reports an abort as a cancellation).</summary>
    private static bool IsClientFailure(Exception exception)
        => exception is Microsoft.AspNetCore.Connections.ConnectionAbortedException || (exception is not OperationCanceledException && IsTransportFailure(exception));

    private static bool IsTransportFailure(Exception exception)
        => exception is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException
            or System.Security.Authentication.AuthenticationException;
}
