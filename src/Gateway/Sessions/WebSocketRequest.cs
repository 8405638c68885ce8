using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace Gateway.Sessions;

/// <summary>
/// Recognises the two ways a client asks for a WebSocket, and the upgrades that are not one. An HTTP/1.1 upgrade
/// is a session when its <c>Upgrade</c> header lists the <c>websocket</c> token (RFC 9110 §7.8: a list, in the
/// client's order of preference; ASP.NET Core's and gorilla/websocket's servers accept one from a list), whatever
/// else it lists; an HTTP/2 extended CONNECT (RFC 8441) when its <c>:protocol</c> is <c>websocket</c>. Every other
/// protocol switch is <see cref="IsOtherUpgrade"/>, which the gateway refuses: relayed, it would be an opaque tunnel
/// past admission, frame checks, heartbeat and registry.
/// </summary>
internal static class WebSocketRequest
{
    /// <summary>The protocol token a WebSocket upgrade names (RFC 6455 §4.1, RFC 8441 §4).</summary>
    public const string Protocol = "websocket";

    public static bool IsHttp11Upgrade(HttpContext context, out IHttpUpgradeFeature upgrade)
    {
        upgrade = context.Features.Get<IHttpUpgradeFeature>()!;
        return upgrade is { IsUpgradableRequest: true } && ListsWebSocket(context.Request.Headers.Upgrade);
    }

    public static bool IsHttp2ExtendedConnect(HttpContext context, out IHttpExtendedConnectFeature connect)
    {
        connect = context.Features.Get<IHttpExtendedConnectFeature>()!;
        return connect is { IsExtendedConnect: true }
            && string.Equals(connect.Protocol, Protocol, StringComparison.OrdinalIgnoreCase);
    }

    public static bool IsWebSocket(HttpContext context)
        => IsHttp11Upgrade(context, out _) || IsHttp2ExtendedConnect(context, out _);

    /// <summary>
    /// A switch to a protocol other than WebSocket: an HTTP/1.1 upgrade whose <c>Upgrade</c> header does not list
    /// <c>websocket</c>, or an extended CONNECT with another <c>:protocol</c>.
    /// </summary>
    public static bool IsOtherUpgrade(HttpContext context)
    {
        if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true })
        {
            return !ListsWebSocket(context.Request.Headers.Upgrade);
        }

        return context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect
            && !string.Equals(connect.Protocol, Protocol, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Whether an <c>Upgrade</c> header (every line of it) lists the <c>websocket</c> token, without a version
    /// (RFC 6455 names none). Tokens are compared case-insensitively, list elements trimmed, empty ones skipped.
    /// </summary>
    public static bool ListsWebSocket(StringValues upgrade)
    {
        foreach (var line in upgrade)
        {
            if (line is null)
            {
                continue;
            }

            foreach (var range in line.AsSpan().Split(','))
            {
                if (line.AsSpan()[range].Trim(" \t").Equals(Protocol, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Whether the header names exactly <c>websocket</c> and nothing else, as the backend should see it.</summary>
    public static bool IsOnlyWebSocket(StringValues upgrade)
        => upgrade.Count == 1 && string.Equals(upgrade[0], Protocol, StringComparison.OrdinalIgnoreCase);
}
