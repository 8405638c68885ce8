namespace Gateway.Management;

/// <summary>A page of <c>GET /admin/sessions</c>: newest first; <paramref name="Next"/> is the <c>after</c> of the next page (null: the last).</summary>
/// <param name="Total">Live sessions in the gateway.</param>
/// <param name="Matched">Of those, the ones the filters match (on every page, not only this one).</param>
internal sealed record SessionPage(int Total, int Matched, IReadOnlyList<SessionView> Sessions, long? Next);
