using System.Globalization;

namespace Gateway.Proxy;

/// <summary>
/// The body of a backend's answer that is not a 101 (a 403, a 404, a 500 with a page): the bytes that arrived with
/// the head first, then the connection's, delimited by <c>Content-Length</c>, by chunked coding (decoded: YARP and
/// Kestrel re-frame the body for the client), or by the end of the connection. It owns the backend connection, which
/// is not reused: refusals of upgrades are rare, and a connection that answered one is closed, as after an upgrade.
/// </summary>
internal sealed class BackendResponseBodyStream : Stream
{
    private const int MaxChunkLineLength = 4096;

    private readonly Stream _connection;
    private byte[] _pending;
    private int _pendingStart;
    private readonly int _pendingEnd;
    private readonly bool _chunked;
    private long _remaining;
    private bool _done;

    /// <param name="leftover">Body bytes read together with the head (may hold a whole short body).</param>
    /// <param name="contentLength">The length, or -1 for chunked or until-close (see <paramref name="chunked"/>).</param>
    public BackendResponseBodyStream(Stream connection, byte[] leftover, int leftoverStart, int leftoverEnd, long contentLength, bool chunked)
    {
        _connection = connection;
        _pending = leftover;
        _pendingStart = leftoverStart;
        _pendingEnd = leftoverEnd;
        _chunked = chunked;
        _remaining = chunked ? 0 : contentLength;
        _done = !chunked && contentLength == 0;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_done || buffer.IsEmpty)
        {
            return 0;
        }

        if (_chunked && _remaining == 0)
        {
            _remaining = await ReadChunkSizeAsync(cancellationToken);
            if (_remaining == 0)
            {
                await SkipTrailersAsync(cancellationToken);
                _done = true;
                return 0;
            }
        }

        var want = _remaining > 0 ? (int)Math.Min(buffer.Length, _remaining) : buffer.Length;
        var read = await ReadRawAsync(buffer[..want], cancellationToken);
        if (read == 0)
        {
            if (_remaining > 0)
            {
                throw new HttpRequestException(HttpRequestError.ResponseEnded, "The backend's response ended before its body was complete.");
            }

            _done = true;
            return 0;
        }

        if (_remaining > 0)
        {
            _remaining -= read;
            if (_remaining == 0)
            {
                if (_chunked)
                {
                    await ExpectLineEndAsync(cancellationToken);
                }
                else
                {
                    _done = true;
                }
            }
        }

        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    private async ValueTask<int> ReadRawAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_pendingStart < _pendingEnd)
        {
            var count = Math.Min(buffer.Length, _pendingEnd - _pendingStart);
            _pending.AsMemory(_pendingStart, count).CopyTo(buffer);
            _pendingStart += count;
            return count;
        }

        return await _connection.ReadAsync(buffer, cancellationToken);
    }

    private async ValueTask<long> ReadChunkSizeAsync(CancellationToken cancellationToken)
    {
        var line = await ReadLineAsync(cancellationToken);
        var extension = line.IndexOf(';');
        var digits = (extension >= 0 ? line[..extension] : line).Trim();
        if (!long.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
        {
            throw new HttpRequestException(HttpRequestError.InvalidResponse, "The backend's chunked response has an invalid chunk size.");
        }

        return size;
    }

    private async ValueTask ExpectLineEndAsync(CancellationToken cancellationToken)
    {
        if ((await ReadLineAsync(cancellationToken)).Length != 0)
        {
            throw new HttpRequestException(HttpRequestError.InvalidResponse, "The backend's chunked response has data after a chunk.");
        }
    }

    private async ValueTask SkipTrailersAsync(CancellationToken cancellationToken)
    {
        while ((await ReadLineAsync(cancellationToken)).Length != 0)
        {
        }
    }

    /// <summary>One CRLF-terminated line of the chunked framing (ASCII), without its CRLF.</summary>
    private async ValueTask<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        var line = new System.Text.StringBuilder();
        var one = new byte[1];
        while (line.Length < MaxChunkLineLength)
        {
            if (await ReadRawAsync(one, cancellationToken) == 0)
            {
                throw new HttpRequestException(HttpRequestError.ResponseEnded, "The backend's chunked response ended before its last chunk.");
            }

            if (one[0] == (byte)'\n')
            {
                if (line.Length > 0 && line[^1] == '\r')
                {
                    line.Length--;
                }

                return line.ToString();
            }

            line.Append((char)one[0]);
        }

        throw new HttpRequestException(HttpRequestError.InvalidResponse, "The backend's chunked response has a line that is too long.");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _pending = [];
            _connection.Dispose();
        }

        base.Dispose(disposing);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Parses a Content-Length value as RFC 9110 wants it: digits only (no sign, no spaces inside).</summary>
    public static bool TryParseLength(string value, out long length)
    {
        var digits = value.AsSpan().Trim();
        length = 0;
        return !digits.IsEmpty && !digits.ContainsAnyExceptInRange('0', '9')
            && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out length);
    }
}
