using System.Buffers;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Net;
using System.Security.Authentication;
using System.Text;
using Gateway.Hosting;
using Gateway.Relay;
using Gateway.Telemetry;

namespace Gateway.Proxy;

/// <summary>
/// The lean path's backend connector: sends an HTTP/1.1 WebSocket upgrade request, exactly as YARP's transforms built
/// it, over a connection of its own and parses the answer itself, so that after a 101 nothing of HttpClient (its
/// connection object, its two 4 KB buffers, the request and response messages) is held for the session's life. What
/// SocketsHttpHandler would do for the same request, it does: the connect timeout, TCP keepalive and socket buffer
/// sizes, TLS to https:// destinations, the cluster's header limit and encodings, the W3C trace context of the current
/// activity; and it fails the same way (the exception types YARP and the breakers classify: refused, timed out, broken
/// handshake).
/// </summary>
/// <remarks>
/// Written by hand because no library sends an HTTP/1.1 request without keeping the connection's buffers for the
/// response's life: SocketsHttpHandler's upgraded connection stream owns them until it is disposed.
/// </remarks>
internal sealed class Http11UpgradeClient
{
    /// <summary>Room for the request head; grown (pooled) for requests with large headers.</summary>
    private const int InitialHeadBuffer = 2048;

    private readonly TimeSpan _connectTimeout;
    private readonly TcpKeepAliveOptions _keepAlive;
    private readonly SocketBufferOptions _buffers;
    private readonly SslProtocols _sslProtocols;
    private readonly bool _acceptAnyCertificate;
    private readonly int _maxResponseHeadBytes;
    private readonly Encoding? _requestHeaderEncoding;
    private readonly Encoding _responseHeaderEncoding;

    public Http11UpgradeClient(TimeSpan connectTimeout, TcpKeepAliveOptions keepAlive, SocketBufferOptions buffers, SslProtocols sslProtocols,
        bool acceptAnyCertificate, int maxResponseHeadBytes, Encoding? requestHeaderEncoding, Encoding? responseHeaderEncoding)
    {
        _connectTimeout = connectTimeout;
        _keepAlive = keepAlive;
        _buffers = buffers;
        _sslProtocols = sslProtocols;
        _acceptAnyCertificate = acceptAnyCertificate;
        _maxResponseHeadBytes = maxResponseHeadBytes;
        _requestHeaderEncoding = requestHeaderEncoding;
        _responseHeaderEncoding = responseHeaderEncoding ?? Encoding.Latin1;
    }

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri ?? throw new InvalidOperationException("The upgrade request has no destination address.");
        var head = SerializeHead(request, uri, out var headLength);
        Stream? transport = null;
        try
        {
            var started = Stopwatch.GetTimestamp();
            transport = await ConnectAsync(uri, cancellationToken);
            var connected = Stopwatch.GetTimestamp();
            try
            {
                await transport.WriteAsync(head.AsMemory(0, headLength), cancellationToken);
            }
            catch (Exception exception) when (exception is IOException or SocketException)
            {
                throw new HttpRequestException(HttpRequestError.Unknown, "The backend connection failed while the upgrade request was sent.", exception);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(head);
                head = null;
            }

            var response = await ReadResponseAsync(transport, request, cancellationToken);
            transport = null; // owned by the response now
            UpgradeTracing.BackendTimings(Stopwatch.GetElapsedTime(started, connected), Stopwatch.GetElapsedTime(connected));
            return response;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        finally
        {
            if (head is not null)
            {
                ArrayPool<byte>.Shared.Return(head);
            }

            transport?.Dispose();
        }
    }

    /// <summary>Connects as BackendHttpClientFactory's connect callback does, and fails as SocketsHttpHandler does.</summary>
    private async Task<Stream> ConnectAsync(Uri uri, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_connectTimeout);
        Stream stream;
        try
        {
            // An address literal (a pod IP, most often) needs no name resolution, and the socket keeps no DnsEndPoint.
            EndPoint endPoint = IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var address) ? new IPEndPoint(address, uri.Port) : new DnsEndPoint(uri.IdnHost, uri.Port);
            stream = new BackendSocketStream(await BackendSockets.ConnectSocketAsync(endPoint, _keepAlive, _buffers, timeout.Token));
        }
        catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TaskCanceledException($"The connection to {uri.Authority} timed out (ConnectTimeout, {_connectTimeout.TotalSeconds:0.###} s).", new TimeoutException("The connect timeout elapsed.", exception));
        }
        catch (SocketException exception)
        {
            var error = exception.SocketErrorCode is SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain
                ? HttpRequestError.NameResolutionError
                : HttpRequestError.ConnectionError;
            throw new HttpRequestException(error, $"{exception.Message} ({uri.Authority})", exception);
        }

        if (!string.Equals(uri.Scheme, Uri.UriSchemeHttps, StringComparison.OrdinalIgnoreCase))
        {
            return stream;
        }

        var tls = new SslStream(stream, leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = uri.IdnHost,
                ApplicationProtocols = [SslApplicationProtocol.Http11],
                EnabledSslProtocols = _sslProtocols,
                // The cluster's HttpClient.DangerousAcceptAnyServerCertificate, as SocketsHttpHandler honours it.
#pragma warning disable CA5359
                RemoteCertificateValidationCallback = _acceptAnyCertificate ? static (_, _, _, _) => true : null,
#pragma warning restore CA5359
            }, timeout.Token);
            return tls;
        }
        catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            await tls.DisposeAsync();
            throw new TaskCanceledException($"The TLS handshake with {uri.Authority} timed out (ConnectTimeout).", new TimeoutException("The connect timeout elapsed.", exception));
        }
        catch (Exception exception) when (exception is AuthenticationException or IOException)
        {
            await tls.DisposeAsync();
            throw new HttpRequestException(HttpRequestError.SecureConnectionError, $"The TLS handshake with {uri.Authority} failed: {exception.Message}", exception);
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    private async Task<HttpResponseMessage> ReadResponseAsync(Stream transport, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        var filled = 0;
        try
        {
            while (true)
            {
                int end;
                while ((end = ResponseHead.FindEnd(buffer.AsSpan(0, filled))) < 0)
                {
                    if (filled >= _maxResponseHeadBytes)
                    {
                        throw new HttpRequestException(HttpRequestError.ConfigurationLimitExceeded, $"The backend's upgrade response head exceeds {_maxResponseHeadBytes} bytes (the cluster's MaxResponseHeadersLength).");
                    }

                    if (filled == buffer.Length)
                    {
                        // The pool rounds sizes up: whatever it gives, no more than the limit is read.
                        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, _maxResponseHeadBytes));
                        buffer.AsSpan(0, filled).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }

                    int read;
                    try
                    {
                        read = await transport.ReadAsync(buffer.AsMemory(filled, Math.Min(buffer.Length, _maxResponseHeadBytes) - filled), cancellationToken);
                    }
                    catch (Exception exception) when (exception is IOException or SocketException)
                    {
                        throw new HttpRequestException(HttpRequestError.Unknown, "The backend connection failed before its upgrade response arrived.", exception);
                    }

                    if (read == 0)
                    {
                        throw new HttpRequestException(HttpRequestError.ResponseEnded, "The backend closed the connection before it answered the upgrade.");
                    }

                    filled += read;
                }

                var response = new HttpResponseMessage { RequestMessage = request };
                ResponseHead.Parse(buffer.AsSpan(0, end), response, _responseHeaderEncoding);
                var code = (int)response.StatusCode;
                if (code is >= 100 and < 200 && code != 101)
                {
                    // An interim answer (100 Continue, 103 Early Hints): the real one follows.
                    response.Dispose();
                    buffer.AsSpan(end, filled - end).CopyTo(buffer);
                    filled -= end;
                    continue;
                }

                if (code == 101)
                {
                    var early = filled > end ? buffer.AsSpan(end, filled - end).ToArray() : null;
                    var content = new UpgradedBackendContent(new BackendConnection(transport, early));
                    CopyContentHeaders(response.Content, content);
                    response.Content = content;
                    return response;
                }

                response.Content = BodyOf(response, transport, buffer, end, filled);
                buffer = null!; // the body stream reads its first bytes from it, and returns nothing to the pool
                return response;
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static StreamContent BodyOf(HttpResponseMessage response, Stream transport, byte[] buffer, int bodyStart, int filled)
    {
        var headers = response.Content.Headers;
        long length = -1;
        var chunked = response.Headers.TransferEncodingChunked == true;
        var code = (int)response.StatusCode;
        if (code is 204 or 304)
        {
            length = 0;
        }
        else if (!chunked && headers.TryGetValues("Content-Length", out var values))
        {
            if (!BackendResponseBodyStream.TryParseLength(values.First(), out length))
            {
                throw new HttpRequestException(HttpRequestError.InvalidResponse, "The backend's response has an invalid Content-Length.");
            }
        }

        var content = new StreamContent(new BackendResponseBodyStream(transport, buffer, bodyStart, filled, length, chunked));
        CopyContentHeaders(response.Content, content);
        if (chunked)
        {
            // Decoded here; the client's side frames the body anew.
            response.Headers.TransferEncodingChunked = null;
        }

        return content;
    }

    private static void CopyContentHeaders(HttpContent from, HttpContent to)
    {
        foreach (var header in from.Headers.NonValidated)
        {
            foreach (var value in header.Value)
            {
                to.Headers.TryAddWithoutValidation(header.Key, value);
            }
        }

        from.Dispose();
    }

    /// <summary>The propagator's header names (traceparent, tracestate, baggage...), read once per propagator.</summary>
    private static Tuple<DistributedContextPropagator, System.Collections.Frozen.FrozenSet<string>>? _traceFields;

    private static bool IsTraceField(DistributedContextPropagator propagator, string header)
    {
        var cached = Volatile.Read(ref _traceFields);
        if (cached is null || !ReferenceEquals(cached.Item1, propagator))
        {
            cached = Tuple.Create(propagator, System.Collections.Frozen.FrozenSet.ToFrozenSet(propagator.Fields, StringComparer.OrdinalIgnoreCase));
            Volatile.Write(ref _traceFields, cached);
        }

        return cached.Item2.Contains(header);
    }

    /// <summary>The request line and headers, in a pooled buffer the caller returns.</summary>
    private byte[] SerializeHead(HttpRequestMessage request, Uri uri, out int length)
    {
        var writer = new HeadWriter(ArrayPool<byte>.Shared.Rent(InitialHeadBuffer), _requestHeaderEncoding);
        writer.Ascii(request.Method.Method);
        writer.Ascii(" ");
        writer.Ascii(uri.PathAndQuery);
        writer.Ascii(" HTTP/1.1\r\nHost: ");
        writer.Value(request.Headers.Host ?? (uri.IsDefaultPort ? uri.IdnHost : $"{uri.IdnHost}:{uri.Port}"));
        writer.Ascii("\r\n");
        // When the upgrade span is recorded (tracing on), the client's trace headers are replaced by the span's, whose
        // parent they are, as YARP's propagator does on its path. Otherwise they pass as they came, and only a request
        // without them gets the current activity's (ASP.NET Core's, for log correlation), as SocketsHttpHandler adds.
        var activity = Activity.Current;
        var traced = UpgradeTracing.Recording(activity) is not null;
        var propagator = DistributedContextPropagator.Current;
        var traceContext = false;
        foreach (var header in request.Headers.NonValidated)
        {
            if (string.Equals(header.Key, "Host", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (IsTraceField(propagator, header.Key))
            {
                if (traced)
                {
                    continue;
                }

                traceContext = true;
            }

            writer.Header(header.Key, header.Value);
        }

        if (request.Content is { } content)
        {
            foreach (var header in content.Headers.NonValidated)
            {
                writer.Header(header.Key, header.Value);
            }
        }

        if (activity is not null && (traced || !traceContext))
        {
            // What SocketsHttpHandler's diagnostics handler adds: the backend's trace joins the gateway's.
            propagator.Inject(activity, writer, static (carrier, name, value) =>
            {
                if (carrier is HeadWriter headWriter && value is not null)
                {
                    headWriter.Header(name, value);
                }
            });
        }

        writer.Ascii("\r\n");
        return writer.Detach(out length);
    }

    /// <summary>Writes an HTTP/1.1 head into a pooled buffer, growing it as needed; header values are checked for line breaks.</summary>
    private sealed class HeadWriter
    {
        private readonly Encoding? _encoding;
        private byte[] _buffer;
        private int _length;

        public HeadWriter(byte[] buffer, Encoding? encoding)
        {
            _buffer = buffer;
            _encoding = encoding;
        }

        public void Header(string name, HeaderStringValues values)
        {
            Ascii(name);
            Ascii(": ");
            var separator = string.Equals(name, "Cookie", StringComparison.OrdinalIgnoreCase) ? "; " : ", ";
            var first = true;
            foreach (var value in values)
            {
                if (!first)
                {
                    Ascii(separator);
                }

                Value(value);
                first = false;
            }

            Ascii("\r\n");
        }

        public void Header(string name, string value)
        {
            Ascii(name);
            Ascii(": ");
            Value(value);
            Ascii("\r\n");
        }

        public void Value(string value)
        {
            if (value.AsSpan().IndexOfAny('\r', '\n') >= 0)
            {
                throw new HttpRequestException(HttpRequestError.Unknown, "A request header value contains a line break.");
            }

            if (_encoding is null)
            {
                if (!Ascii(value))
                {
                    throw new HttpRequestException(HttpRequestError.Unknown, "Request headers must contain only ASCII characters (set the cluster's HttpRequest.RequestHeaderEncoding otherwise).");
                }

                return;
            }

            var count = _encoding.GetByteCount(value);
            Ensure(count);
            _length += _encoding.GetBytes(value, _buffer.AsSpan(_length));
        }

        /// <summary>Writes ASCII text; false if it contains anything else.</summary>
        public bool Ascii(string text)
        {
            Ensure(text.Length);
            var status = System.Text.Ascii.FromUtf16(text, _buffer.AsSpan(_length), out var written);
            _length += written;
            return status == OperationStatus.Done;
        }

        private void Ensure(int count)
        {
            if (_length + count <= _buffer.Length)
            {
                return;
            }

            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + count));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        public byte[] Detach(out int length)
        {
            length = _length;
            return _buffer;
        }
    }
}
