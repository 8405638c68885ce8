using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gateway.Hosting;

/// <summary>
/// The two Kestrel listeners. Kestrel replaces a listener's endpoint with the bound one when it starts, so
/// after start these report real ports even when port 0 was configured.
/// </summary>
internal sealed class GatewayListeners
{
    private ListenOptions? _public;
    private ListenOptions? _management;
    private ListenOptions? _publicH2c;

    public IPEndPoint? PublicEndPoint => _public?.IPEndPoint;

    public IPEndPoint? ManagementEndPoint => _management?.IPEndPoint;

    public IPEndPoint? PublicH2cEndPoint => _publicH2c?.IPEndPoint;

    public bool PublicUsesTls { get; private set; }

    internal void SetPublic(ListenOptions listener, bool tls)
    {
        _public = listener;
        PublicUsesTls = tls;
    }

    internal void SetPublicH2c(ListenOptions listener) => _publicH2c = listener;

    internal void SetManagement(ListenOptions listener) => _management = listener;

    /// <summary>
    /// True for requests that arrived on the management listener. Decided by the local port of the TCP
    /// connection, which a client cannot forge (a Host header could be).
    /// </summary>
    public bool IsManagement(HttpContext context)
        => _management?.IPEndPoint is { } endpoint && context.Connection.LocalPort == endpoint.Port;
}
