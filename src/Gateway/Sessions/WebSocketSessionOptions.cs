using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Gateway.Sessions;

/// <summary>Settings of relayed WebSocket sessions (<c>Gateway:Sessions</c>).</summary>
public sealed class WebSocketSessionOptions
{
    public const string SectionName = "Gateway:Sessions";

    /// <summary>
    /// Close a session after this long without a byte in either direction. Unset (the default) keeps quiet
    /// sessions open: dead peers are found by TCP keepalive (and, with the heartbeat, by gateway pings).
    /// Each cluster's YARP <c>ActivityTimeout</c> is derived from this (or the cluster's
    /// <c>Gateway.IdleTimeout</c> metadata), so YARP's 100 s default never closes a quiet session.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan? IdleTimeout { get; set; }
}

[OptionsValidator]
internal sealed partial class WebSocketSessionOptionsValidator : IValidateOptions<WebSocketSessionOptions>;
