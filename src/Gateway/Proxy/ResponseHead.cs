using System.Buffers;
using System.Net;
using System.Text;

namespace Gateway.Proxy;

/// <summary>
/// The status line and headers of a backend's HTTP/1.x answer, parsed from the bytes <see cref="Http11UpgradeClient"/>
/// read: strictly (RFC 9112: a CRLF after every line, no folded lines, a token before each colon), so a backend that
/// answers with something that is not HTTP fails the handshake instead of being half understood.
/// </summary>
internal static class ResponseHead
{
    private static readonly SearchValues<byte> TokenChars = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>Index just past the blank line that ends the head, or -1 if it has not all arrived.</summary>
    public static int FindEnd(ReadOnlySpan<byte> data)
    {
        var end = data.IndexOf("\r\n\r\n"u8);
        return end < 0 ? -1 : end + 4;
    }

    /// <summary>
    /// Parses a complete head (up to and including its blank line) into <paramref name="response"/>: status, reason,
    /// version, and every header (content headers into a content the caller replaces later).
    /// </summary>
    /// <exception cref="HttpRequestException">The head is not a valid HTTP/1.x response head.</exception>
    public static void Parse(ReadOnlySpan<byte> head, HttpResponseMessage response, Encoding encoding)
    {
        var lineEnd = head.IndexOf("\r\n"u8);
        ParseStatusLine(head[..lineEnd], response);
        var rest = head[(lineEnd + 2)..];
        response.Content ??= new ByteArrayContent([]);
        while (true)
        {
            lineEnd = rest.IndexOf("\r\n"u8);
            if (lineEnd <= 0)
            {
                // The blank line (FindEnd guaranteed one is there).
                return;
            }

            ParseHeader(rest[..lineEnd], response, encoding);
            rest = rest[(lineEnd + 2)..];
        }
    }

    private static void ParseStatusLine(ReadOnlySpan<byte> line, HttpResponseMessage response)
    {
        // HTTP/1.x SP 3DIGIT SP reason (the reason may be empty, and some servers omit the space before it).
        if (line.Length < 12 || !line.StartsWith("HTTP/1."u8) || (line[7] != (byte)'0' && line[7] != (byte)'1')
            || line[8] != (byte)' ' || !IsDigit(line[9]) || !IsDigit(line[10]) || !IsDigit(line[11])
            || (line.Length > 12 && line[12] != (byte)' '))
        {
            throw Invalid("the status line is not HTTP/1.x");
        }

        response.Version = line[7] == (byte)'0' ? HttpVersion.Version10 : HttpVersion.Version11;
        response.StatusCode = (HttpStatusCode)(((line[9] - '0') * 100) + ((line[10] - '0') * 10) + (line[11] - '0'));
        if (response.StatusCode < (HttpStatusCode)100)
        {
            throw Invalid("the status code is below 100");
        }

        response.ReasonPhrase = line.Length > 13 ? Encoding.Latin1.GetString(line[13..]) : "";
    }

    private static void ParseHeader(ReadOnlySpan<byte> line, HttpResponseMessage response, Encoding encoding)
    {
        if (line[0] is (byte)' ' or (byte)'\t')
        {
            throw Invalid("a folded header line (obsolete line folding is not accepted)");
        }

        var colon = line.IndexOf((byte)':');
        if (colon <= 0 || line[..colon].ContainsAnyExcept(TokenChars))
        {
            throw Invalid("a header line without a valid name");
        }

        var value = line[(colon + 1)..].Trim(" \t"u8);
        if (value.IndexOfAny((byte)'\r', (byte)'\n', (byte)0) >= 0)
        {
            throw Invalid("a header value with a control character");
        }

        var name = Encoding.ASCII.GetString(line[..colon]);
        string text;
        try
        {
            text = encoding.GetString(value);
        }
        catch (DecoderFallbackException exception)
        {
            throw new HttpRequestException(HttpRequestError.InvalidResponse, $"The backend's upgrade response has a header value ({name}) that is not valid in the configured encoding.", exception);
        }

        if (!response.Headers.TryAddWithoutValidation(name, text))
        {
            response.Content!.Headers.TryAddWithoutValidation(name, text);
        }
    }

    private static bool IsDigit(byte value) => value is >= (byte)'0' and <= (byte)'9';

    private static HttpRequestException Invalid(string what)
        => new(HttpRequestError.InvalidResponse, $"The backend's upgrade response is not valid HTTP/1.1: {what}.");
}
