using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Gateway.Sessions;

/// <summary>Settings of relayed WebSocket sessions (<c>Gateway:Sessions</c>).</summary>
public sealed class WebSocketSessionOptions
{
    public const string SectionName = "Gateway:Sessions";

    /// <summary>
    /// Close a session after this long without an application message in either direction (the heartbeat's tier
    /// 3; route or cluster metadata <c>Gateway.IdleTimeout</c> overrides it, "off" disables it). Unset (the
    /// default) keeps quiet sessions open: dead peers are found by gateway pings and TCP keepalive. With the
    /// heartbeat off, each cluster's YARP <c>ActivityTimeout</c> is derived from it instead (no byte either way).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan? IdleTimeout { get; set; }

    /// <summary>
    /// Largest payload of one frame a client may send, in bytes (route metadata <c>Gateway.MaxFrameSize</c>
    /// overrides it). A bigger frame is refused before any of it reaches the backend: close 1009 to the client,
    /// 1001 to the backend.
    /// </summary>
    [Range(126L, long.MaxValue)]
    public long MaxFrameSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest message (all its fragments) a client may send, in bytes (<c>Gateway.MaxMessageSize</c> per route).</summary>
    [Range(126L, long.MaxValue)]
    public long MaxMessageSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// The lean path (docs/architecture.md): an HTTP/1.1 client's session whose backend leg is HTTP/1.1 leaves the
    /// HTTP request after its handshake and is relayed at the connection level, for a fraction of the memory. Off,
    /// every session is relayed by YARP inside its request, as HTTP/2 sessions always are.
    /// </summary>
    public bool LeanPath { get; set; } = true;

    /// <summary>
    /// Bytes the lean path's relay reads at once, per direction. Rented from the shared pool only while bytes move
    /// and returned after each write: an idle session holds none. Larger reads cost fewer system calls for bulk
    /// traffic; smaller ones less memory when thousands of sessions wake at once.
    /// </summary>
    [Range(1024, 1024 * 1024)]
    public int RelayBufferSize { get; set; } = 16 * 1024;
}

[OptionsValidator]
internal sealed partial class WebSocketSessionOptionsValidator : IValidateOptions<WebSocketSessionOptions>;

/// <summary>What the attributes cannot say: a message is at least one frame.</summary>
internal sealed class WebSocketSessionOptionsRules : IValidateOptions<WebSocketSessionOptions>
{
    public ValidateOptionsResult Validate(string? name, WebSocketSessionOptions options)
        => options.MaxMessageSize < options.MaxFrameSize
            ? ValidateOptionsResult.Fail($"MaxMessageSize ({options.MaxMessageSize}) must be at least MaxFrameSize ({options.MaxFrameSize}).")
            : ValidateOptionsResult.Success;
}
