namespace Gateway.Management;

/// <summary>The body of <c>POST /admin/destinations/{cluster}/{destination}/drain</c>; may be left out.</summary>
/// <param name="Window">Across how long the sessions are closed (<c>00:00:20</c>); default the cluster's destination drain window.</param>
internal sealed record DrainRequest(TimeSpan? Window = null);
