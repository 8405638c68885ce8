using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Sessions;

/// <summary>Recognises the two ways a client asks for a WebSocket.</summary>
internal static class WebSocketRequest
{
    public static bool IsHttp11Upgrade(HttpContext context, out IHttpUpgradeFeature upgrade)
    {
        upgrade = context.Features.Get<IHttpUpgradeFeature>()!;
        return upgrade is { IsUpgradableRequest: true }
            && string.Equals(context.Request.Headers.Upgrade.ToString(), "websocket", StringComparison.OrdinalIgnoreCase);
    }

    public static bool IsHttp2ExtendedConnect(HttpContext context, out IHttpExtendedConnectFeature connect)
    {
        connect = context.Features.Get<IHttpExtendedConnectFeature>()!;
        return connect is { IsExtendedConnect: true }
            && string.Equals(connect.Protocol, "websocket", StringComparison.OrdinalIgnoreCase);
    }

    public static bool IsWebSocket(HttpContext context)
        => IsHttp11Upgrade(context, out _) || IsHttp2ExtendedConnect(context, out _);
}
