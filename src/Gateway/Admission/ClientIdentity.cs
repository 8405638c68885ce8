using System.Net;
using Microsoft.Extensions.Primitives;

namespace Gateway.Admission;

/// <summary>
/// The client address admission limits are keyed by: the TCP peer, or, when the peer is a trusted proxy, the
/// nearest untrusted address in the forwarding header, read right to left (each proxy appends the address it
/// received from, so only the entries right of the first untrusted one were written by proxies we trust;
/// anything further left was written by the client). This is nginx's <c>set_real_ip_from</c> with
/// <c>real_ip_recursive on</c>.
/// </summary>
/// <remarks>
/// Written by hand because ASP.NET Core's ForwardedHeadersMiddleware reads only <c>X-Forwarded-For</c> (not RFC
/// 7239 <c>Forwarded</c>) and rewrites <c>Connection.RemoteIpAddress</c> for the whole pipeline, which would
/// change the <c>X-Forwarded-For</c> YARP sends to backends. The header is not changed here.
/// </remarks>
internal static class ClientIdentity
{
    public static IPAddress Resolve(IPAddress? peer, StringValues header, ForwardedHeaderKind kind, IPNetwork[] trusted)
    {
        var address = Normalize(peer ?? IPAddress.IPv6None);
        if (trusted.Length == 0 || !IsTrusted(address, trusted))
        {
            return address;
        }

        // Several header lines are one list, in order.
        for (var line = header.Count - 1; line >= 0; line--)
        {
            var remaining = (header[line] ?? "").AsSpan();
            while (!remaining.IsEmpty)
            {
                var comma = remaining.LastIndexOf(',');
                var element = remaining[(comma + 1)..];
                remaining = comma < 0 ? default : remaining[..comma];
                if (element.IsWhiteSpace())
                {
                    continue;
                }

                if (!TryParseHop(element, kind, out var hop))
                {
                    // An unknown or garbled hop ("unknown", "_hidden", junk): the last address we can vouch for
                    // is the proxy that handed it to us.
                    return address;
                }

                address = hop;
                if (!IsTrusted(hop, trusted))
                {
                    return hop;
                }
            }
        }

        return address;
    }

    public static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static bool IsTrusted(IPAddress address, IPNetwork[] trusted)
    {
        foreach (var network in trusted)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryParseHop(ReadOnlySpan<char> element, ForwardedHeaderKind kind, out IPAddress address)
    {
        var value = element.Trim();
        if (kind == ForwardedHeaderKind.Forwarded && !TryGetForParameter(value, out value))
        {
            address = IPAddress.None;
            return false;
        }

        if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
        {
            value = value[1..^1];
        }

        // "1.2.3.4", "1.2.3.4:5678" (Azure Application Gateway adds the port), "::1", "[::1]", "[::1]:80".
        if (value.Length > 0 && value[0] == '[' && value[^1] == ']')
        {
            value = value[1..^1];
        }

        if (IPEndPoint.TryParse(value, out var endpoint))
        {
            address = Normalize(endpoint.Address);
            return true;
        }

        address = IPAddress.None;
        return false;
    }

    /// <summary>The value of <c>for=</c> in one RFC 7239 element (<c>for=...;proto=https;by=...</c>).</summary>
    private static bool TryGetForParameter(ReadOnlySpan<char> element, out ReadOnlySpan<char> value)
    {
        foreach (var range in element.Split(';'))
        {
            var pair = element[range].Trim();
            if (pair.Length > 4 && pair[..4].Equals("for=", StringComparison.OrdinalIgnoreCase))
            {
                value = pair[4..].Trim();
                return true;
            }
        }

        value = default;
        return false;
    }
}
