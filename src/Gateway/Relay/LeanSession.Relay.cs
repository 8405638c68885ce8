using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace Gateway.Relay;

/// <summary>
/// The lean path's relay loop: both directions of the session between its client leg (a <see cref="SessionStream"/>
/// over the connection's transport) and its backend leg (a <see cref="BackendStream"/> over the lean connector's
/// socket). It ends the way YARP's copy loop ends, which the two legs were built against: the first direction to
/// fail stops the other; a backend that finished first stops the client's side; a client that finished first (its
/// end of stream, a refused frame, a gateway close) leaves the backend time to answer.
/// </summary>
/// <remarks>
/// <para>What YARP's loop costs and this one does not: no timer or <c>CancelAfter</c> per read or write (idle timeouts
/// are the heartbeat's), no cancellation source per session (a direction is stopped by cancelling the pipe's pending
/// read or flush, or by the backend leg's own teardown), and a buffer only while bytes move. An idle client is
/// awaited on the connection's pipe itself, and an idle backend with a zero-byte read on its socket: neither holds a
/// buffer or a pooled async box. When data is there, one buffer of <c>bufferSize</c> bytes is rented from the shared
/// pool for the read and its write, and returned; a mass wake-up (every client answering a drain at once) takes
/// buffers the pool gets back at once instead of 64 KiB per direction held across the writes.</para>
/// <para>Two async state machines per session (this method and the backend-to-client loop): the client-to-backend
/// loop runs in this one.</para>
/// </remarks>
internal sealed partial class LeanSession
{
    private int _directionsEnded;
    private IDuplexPipe? _transport;

    /// <summary>
    /// A client connection's whole life on a listener with the lean path: its HTTP layer first (on a
    /// <see cref="LeanConnection"/>), then, if a request handed a session over, the session's relay on the connection's
    /// own transport, to its close in the registry. One method for both, with the client-to-backend loop inline, so a
    /// session holds two async state machines (this one and the backend-to-client loop's) instead of one per step.
    /// </summary>
    /// <param name="firstByteGate">For a cleartext connection: the gate whose first-byte deadline it must meet before the HTTP layer sees it.</param>
    public static async Task ServeAsync(ConnectionContext connection, ConnectionDelegate http, Connections.ConnectionGate? firstByteGate = null)
    {
        if (firstByteGate is not null && !await firstByteGate.AdmitFirstByteAsync(connection).ConfigureAwait(false))
        {
            return;
        }

        var lean = new LeanConnection(connection);
        Exception? failure = null;
        try
        {
            await http(lean).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // Kestrel's HTTP connection handles its own failures; a session handed over runs whatever happened.
            failure = exception;
        }

        if (lean.LeaveHttpLayer() is { } session)
        {
            session._connection = connection;
            var backendConnection = session._backend!;
            session._backend = null;
            var backendTransport = backendConnection.Transport;
            var early = backendConnection.TakeEarly();
            var flush = backendConnection.FlushWrites;
            backendConnection = null;
            SessionStream? client = null;
            try
            {
                var transport = session._transport = connection.Transport;
                client = new SessionStream(new ConnectionTransportStream(transport), session._session, session._registry.Metrics, session._registry.TimeProvider, session, session._compressed);
                var backend = new BackendStream(backendTransport, client);
                client.AttachBackend(backend);
                // From here the backend leg owns the connection: it lets go when the gateway's close is out or answered.
                backendTransport = null;
                try
                {
                    var toClient = session.BackendToClientAsync(client, backend, early);
                    early = null;

                    // Client to backend, here.
                    var input = transport.Input;
                    var bufferSize = session._bufferSize;
                    RelayFault fault;
                    var writing = false;
                    try
                    {
                        while (true)
                        {
                            writing = false;
                            // Wait on the pipe itself: data, the client's end, or a reset (thrown), without a buffer.
                            var wait = input.ReadAsync();
                            var ready = wait.IsCompletedSuccessfully ? wait.Result : await wait.ConfigureAwait(false);
                            input.AdvanceTo(ready.Buffer.Start);
                            if (ready.IsCanceled)
                            {
                                // Stopped because the other direction ended first; its end is the one that counts.
                                fault = RelayFault.None;
                                break;
                            }

                            var buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
                            try
                            {
                                var read = await client.ReadAvailableAsync(buffer.AsMemory(0, bufferSize)).ConfigureAwait(false);
                                if (read == 0)
                                {
                                    fault = RelayFault.None;
                                    break;
                                }

                                if (read > 0)
                                {
                                    writing = true;
                                    await backend.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
                                    if (flush)
                                    {
                                        await backend.FlushAsync().ConfigureAwait(false);
                                    }
                                }
                            }
                            finally
                            {
                                ArrayPool<byte>.Shared.Return(buffer);
                            }
                        }
                    }
                    catch (Exception exception) when (!writing && IsClientFailure(exception))
                    {
                        // A reset seen while waiting: as the session stream handles a failed read, the backend is told
                        // the client went away.
                        client.EndOfClient();
                        fault = RelayFault.ClientRead;
                    }
                    catch (OperationCanceledException)
                    {
                        fault = RelayFault.None;
                    }
                    catch (Exception exception) when (IsTransportFailure(exception))
                    {
                        fault = writing ? RelayFault.BackendWrite : RelayFault.ClientRead;
                    }

                    session.Ended(clientToBackend: true, fault, backend);
                    await toClient.ConfigureAwait(false);
                }
                finally
                {
                    // Backend leg first, then the client's (its farewell, or its linger after a go-away), as YARP disposes them.
                    backend.Dispose();
                    client.Dispose();
                }

                await client.Lingering.ConfigureAwait(false);
            }
            finally
            {
                // A relay that never got as far as its backend leg.
                backendTransport?.Dispose();
                session._transport = null;
                session.End(client);
            }
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    private async Task BackendToClientAsync(SessionStream client, BackendStream backend, byte[]? early)
    {
        var fault = RelayFault.None;
        var writing = false;
        try
        {
            if (early is not null)
            {
                // What the backend sent with its 101 goes first.
                writing = true;
                await client.WriteAsync(early).ConfigureAwait(false);
            }

            while (true)
            {
                writing = false;
                await backend.ReadAsync(Memory<byte>.Empty).ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(_bufferSize);
                try
                {
                    var read = await backend.ReadAsync(buffer.AsMemory(0, _bufferSize)).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }

                    writing = true;
                    await client.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
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

        Ended(clientToBackend: false, fault, backend);
    }

    /// <summary>
    /// One direction has ended. The first to end decides what happens to the other, as YARP's loop does: a failure
    /// stops it; the backend's clean end stops the client's side (no more reads from the client); the client's
    /// clean end leaves the backend's side running until the backend answers (or its leg's close timeout passes).
    /// </summary>
    private void Ended(bool clientToBackend, RelayFault fault, BackendStream backend)
    {
        if (Interlocked.Increment(ref _directionsEnded) != 1)
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

        // A write to a backend that stopped reading, or a read from one, ends with the leg's teardown (which first
        // sends the backend the gateway's close where one is due, as on the YARP path).
        backend.OnRelayCancelled();
        if (clientToBackend)
        {
            _transport?.Output.CancelPendingFlush();
        }
        else
        {
            _transport?.Input.CancelPendingRead();
        }
    }

    /// <summary>The client's connection was reset or aborted (Kestrel reports an abort as a cancellation).</summary>
    private static bool IsClientFailure(Exception exception)
        => exception is ConnectionAbortedException || (exception is not OperationCanceledException && IsTransportFailure(exception));

    private static bool IsTransportFailure(Exception exception)
        => exception is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException
            or System.Security.Authentication.AuthenticationException;
}
