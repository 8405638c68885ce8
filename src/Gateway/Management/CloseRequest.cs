namespace Gateway.Management;

/// <summary>
/// The body of <c>POST /admin/sessions/{id}/close</c> (status and reason only) and of <c>POST /admin/sessions/close</c>
/// (which needs <paramref name="Client"/> or <paramref name="Destination"/>; <paramref name="Cluster"/> and
/// <paramref name="Route"/> narrow it). Every field may be left out; unknown fields are refused.
/// </summary>
/// <param name="Code">The close status the clients get (default 1000); one an endpoint may send (RFC 6455 §7.4).</param>
/// <param name="Reason">The close reason the clients read, at most 123 bytes of UTF-8 (default "closed by operator").</param>
internal sealed record CloseRequest(int? Code = null, string? Reason = null, string? Client = null, string? Destination = null, string? Cluster = null, string? Route = null);
