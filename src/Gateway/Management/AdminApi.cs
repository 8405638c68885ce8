using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gateway.Drain;
using Gateway.Frames;
using Gateway.Sessions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Gateway.Management;

/// <summary>
/// <c>/admin/*</c> on the management listener: list, count and close sessions, and drain a destination. Every call needs
/// the bearer token (<see cref="ManagementToken"/>) and is logged with what it did. The JSON shapes are in
/// docs/operations.md.
/// </summary>
/// <remarks>
/// Routed with a <see cref="RouteBuilder"/> of its own rather than endpoint routing: the management branch is taken
/// before the public pipeline's <c>UseRouting</c>, and endpoints mapped in a branch of a <c>WebApplication</c> join its
/// global route table, where the public listener would match them too. Every call walks the registry without its
/// lock, so no relay waits on a listing for a lock; but each page is a whole walk (a full listing of N sessions in pages
/// of P costs N/P walks: 0.6 s of a core for 100,000 in pages of 1,000), and a lister running back to back roughly
/// doubled the echo p99 on this 2-core machine (docs/benchmarks.md, "Management API: listing 100,000 sessions").
/// </remarks>
internal sealed partial class AdminApi
{
    /// <summary>Request bodies are a few fields; anything larger is refused (413) before it is read.</summary>
    private const long MaxBodyBytes = 16 * 1024;

    private static readonly string[] ListParameters = ["route", "cluster", "destination", "client", "limit", "after"];

    private readonly SessionRegistry _registry;
    private readonly DestinationDrain _drain;
    private readonly ManagementToken _token;
    private readonly ManagementOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<AdminApi> _logger;

    public AdminApi(SessionRegistry registry, DestinationDrain drain, ManagementToken token, IOptions<ManagementOptions> options, TimeProvider timeProvider, ILogger<AdminApi> logger)
    {
        _registry = registry;
        _drain = drain;
        _token = token;
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>Builds the <c>/admin</c> branch: the token check first (an unknown path is 401 too: no probing without it), then the calls.</summary>
    public static void Configure(IApplicationBuilder app)
    {
        var api = app.ApplicationServices.GetRequiredService<AdminApi>();
        if (!api._token.Configured)
        {
            Log.NoToken(api._logger);
        }

        app.Use(api.AuthenticateAsync);
        app.UseRouter(routes =>
        {
            routes.MapGet("sessions", OffTheConnection(api.ListAsync));
            routes.MapGet("sessions/counts", OffTheConnection(api.CountAsync));
            routes.MapGet("sessions/{id:long}", OffTheConnection(api.GetAsync));
            routes.MapPost("sessions/{id:long}/close", OffTheConnection(api.CloseOneAsync));
            routes.MapPost("sessions/close", OffTheConnection(api.CloseManyAsync));
            routes.MapPost("destinations/{cluster}/{destination}/drain", OffTheConnection(api.DrainAsync));
        });
        app.Run(context => api.RefuseAsync(context, StatusCodes.Status404NotFound, $"no management call {context.Request.Method} {context.Request.PathBase}{context.Request.Path}; the calls are listed in docs/operations.md"));
    }

    /// <summary>
    /// Runs a call on the thread pool: each walks the whole registry (a page of 1,000 out of 100,000 took ~6 ms,
    /// docs/benchmarks.md), and with inline scheduling the request's own thread is a socket-engine thread that also
    /// serves relay connections, which must never wait behind a walk.
    /// </summary>
    private static RequestDelegate OffTheConnection(RequestDelegate call) => context => Task.Run(() => call(context));

    private Task AuthenticateAsync(HttpContext context, RequestDelegate next)
    {
        if (_token.Check(context) is not { } problem)
        {
            return next(context);
        }

        context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"gateway-management\", error=\"invalid_token\", error_description=\"{problem}\"";
        Log.Refused(_logger, context.Request.Method, Target(context), context.Connection.RemoteIpAddress, problem);
        return WriteAsync(context, StatusCodes.Status401Unauthorized, new ErrorBody(problem), ManagementJsonContext.Default.ErrorBody);
    }

    private Task ListAsync(HttpContext context)
    {
        if (ParseList(context.Request.Query, out var filter, out var limit, out var after) is { } problem)
        {
            return RefuseAsync(context, StatusCodes.Status400BadRequest, problem);
        }

        // The page is the `limit` newest sessions older than `after`: one walk, a heap of `limit`, whatever order
        // concurrent opens left the list in.
        var page = new PriorityQueue<Session, long>(limit + 1);
        var total = 0;
        var matched = 0;
        var more = false;
        foreach (var session in _registry.Sessions)
        {
            total++;
            if (!filter.Matches(session))
            {
                continue;
            }

            matched++;
            if (session.Id >= after)
            {
                continue;
            }

            if (page.Count < limit)
            {
                page.Enqueue(session, session.Id);
            }
            else
            {
                more = true;
                if (session.Id > page.Peek().Id)
                {
                    page.DequeueEnqueue(session, session.Id);
                }
            }
        }

        var now = _timeProvider.GetTimestamp();
        var views = new SessionView[page.Count];
        for (var i = views.Length - 1; i >= 0; i--)
        {
            views[i] = View(page.Dequeue(), now);
        }

        var next = more && views.Length > 0 ? views[^1].Id : (long?)null;
        Log.Listed(_logger, context.Request.Method, Target(context), context.Connection.RemoteIpAddress, views.Length, matched, total);
        return WriteAsync(context, StatusCodes.Status200OK, new SessionPage(total, matched, views, next), ManagementJsonContext.Default.SessionPage);
    }

    private Task CountAsync(HttpContext context)
    {
        if (context.Request.Query.Count > 0)
        {
            return RefuseAsync(context, StatusCodes.Status400BadRequest, "counts take no parameters");
        }

        var byRoute = new Dictionary<string, int>(StringComparer.Ordinal);
        var byCluster = new Dictionary<string, int>(StringComparer.Ordinal);
        var byDestination = new Dictionary<(string, string?), int>();
        var byTier = new int[SessionNames.Tiers.Length];
        var total = 0;
        foreach (var session in _registry.Sessions)
        {
            total++;
            Increment(byRoute, session.RouteId);
            Increment(byCluster, session.ClusterId);
            Increment(byDestination, (session.ClusterId, session.DestinationId));
            byTier[(int)session.Tier]++;
        }

        var counts = new SessionCounts(
            total,
            byRoute,
            byCluster,
            [.. byDestination.OrderBy(static entry => entry.Key.Item1, StringComparer.Ordinal).ThenBy(static entry => entry.Key.Item2, StringComparer.Ordinal)
                .Select(static entry => new DestinationCount(entry.Key.Item1, entry.Key.Item2, entry.Value))],
            SessionNames.Tiers.Select((tier, index) => (tier, index)).ToDictionary(static entry => entry.tier, entry => byTier[entry.index], StringComparer.Ordinal));
        Log.Counted(_logger, context.Request.Method, Target(context), context.Connection.RemoteIpAddress, total);
        return WriteAsync(context, StatusCodes.Status200OK, counts, ManagementJsonContext.Default.SessionCounts);
    }

    private Task GetAsync(HttpContext context)
    {
        if (Find(context, out var id) is not { } session)
        {
            return RefuseAsync(context, StatusCodes.Status404NotFound, $"no live session {id}");
        }

        Log.Shown(_logger, context.Request.Method, Target(context), context.Connection.RemoteIpAddress, id);
        return WriteAsync(context, StatusCodes.Status200OK, View(session, _timeProvider.GetTimestamp()), ManagementJsonContext.Default.SessionView);
    }

    private async Task CloseOneAsync(HttpContext context)
    {
        var (request, problem) = await ReadAsync(context, ManagementJsonContext.Default.CloseRequest, new CloseRequest());
        SessionEnd? end = null;
        problem ??= request!.Client is not null || request.Destination is not null || request.Cluster is not null || request.Route is not null
            ? "closing one session takes only a code and a reason; to close by client or destination, POST /admin/sessions/close"
            : CheckClose(request, out end);
        if (problem is not null)
        {
            await RefuseBodyAsync(context, problem);
            return;
        }

        if (Find(context, out var id) is not { } session)
        {
            await RefuseAsync(context, StatusCodes.Status404NotFound, $"no live session {id}");
            return;
        }

        if (session.IsEnding || !session.BeginCloseWith(end!, _timeProvider.GetTimestamp()))
        {
            await RefuseAsync(context, StatusCodes.Status409Conflict, $"session {id} is already ending ({session.GatewayCloseReason?.ToTagValue() ?? "a peer's close is under way"})");
            return;
        }

        Log.Closed(_logger, context.Request.Method, Target(context), context.Connection.RemoteIpAddress, 1, 1, 0, end!.ClientStatus, end.ClientText);
        await WriteAsync(context, StatusCodes.Status202Accepted, new CloseResult(1, 1, 0, end.ClientStatus, end.ClientText), ManagementJsonContext.Default.CloseResult);
    }

    private async Task CloseManyAsync(HttpContext context)
    {
        var (request, problem) = await ReadAsync(context, ManagementJsonContext.Default.CloseRequest, null);
        SessionFilter? filter = null;
        SessionEnd? end = null;
        problem ??= request is null || (request.Client is null && request.Destination is null)
            ? "the body must name a client or a destination (closing every session is the pod's drain: SIGTERM)"
            : ToFilter(request, out filter) ?? CheckClose(request, out end);
        if (problem is not null)
        {
            await RefuseBodyAsync(context, problem);
            return;
        }

        var now = _timeProvider.GetTimestamp();
        int matched = 0, closing = 0;
        foreach (var session in _registry.Sessions)
        {
            if (filter!.Matches(session))
            {
                matched++;
                closing += !session.IsEnding && session.BeginCloseWith(end!, now) ? 1 : 0;
            }
        }

        Log.Closed(_logger, context.Request.Method, Target(context), context.Connection.RemoteIpAddress, matched, closing, matched - closing, end!.ClientStatus, end.ClientText);
        await WriteAsync(context, StatusCodes.Status202Accepted, new CloseResult(matched, closing, matched - closing, end.ClientStatus, end.ClientText), ManagementJsonContext.Default.CloseResult);
    }

    private async Task DrainAsync(HttpContext context)
    {
        var (request, problem) = await ReadAsync(context, ManagementJsonContext.Default.DrainRequest, new DrainRequest());
        if (problem is null && request!.Window is { } asked && (asked < TimeSpan.Zero || asked > DestinationDrain.MaxOperatorWindow))
        {
            problem = $"window {asked:c} is not between 00:00:00 and {DestinationDrain.MaxOperatorWindow:c}";
        }

        if (problem is not null)
        {
            await RefuseBodyAsync(context, problem);
            return;
        }

        var cluster = (string)context.GetRouteValue("cluster")!;
        var destination = (string)context.GetRouteValue("destination")!;
        var drain = _drain.StartByOperator(cluster, destination, request!.Window);
        switch (drain.Outcome)
        {
            case OperatorDrainOutcome.Unknown:
                await RefuseAsync(context, StatusCodes.Status404NotFound, $"no destination '{destination}' in a cluster '{cluster}' of the current configuration");
                return;
            case OperatorDrainOutcome.AlreadyDraining:
                await RefuseAsync(context, StatusCodes.Status409Conflict, $"destination '{drain.DestinationId}' of cluster '{drain.ClusterId}' is being drained already");
                return;
        }

        Log.Drained(_logger, context.Request.Method, Target(context), context.Connection.RemoteIpAddress, drain.Sessions, drain.Window.TotalSeconds);
        await WriteAsync(context, StatusCodes.Status202Accepted, new DrainResult(drain.ClusterId, drain.DestinationId, drain.Address, drain.Sessions, drain.Window.TotalSeconds), ManagementJsonContext.Default.DrainResult);
    }

    private const string TooLarge = "the request body is over 16 KiB";

    /// <summary>The body, or <paramref name="empty"/> when there is none, or why it cannot be read.</summary>
    private static async Task<(T? Value, string? Problem)> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type, T? empty)
        where T : class
    {
        var request = context.Request;
        if (request.ContentLength > MaxBodyBytes)
        {
            return (null, TooLarge);
        }

        if (request.ContentLength == 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count == 0))
        {
            return (empty, null);
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        try
        {
            return (await JsonSerializer.DeserializeAsync(request.Body, type, context.RequestAborted) ?? empty, null);
        }
        catch (JsonException exception)
        {
            return (null, $"the body is not the JSON this call takes: {exception.Message}");
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge);
        }
    }

    /// <summary>Checks the status and reason asked for; null with the session-end row to close with, or the problem.</summary>
    private static string? CheckClose(CloseRequest request, out SessionEnd? end)
    {
        end = null;
        var code = request.Code ?? SessionEnds.Operator.ClientStatus;
        if (!CloseFrame.MaySend(code))
        {
            return $"code {code} may not be sent in a close frame: use 1000-1003, 1007-1014 or 3000-4999 (RFC 6455 §7.4)";
        }

        if (request.Reason is { } reason && Encoding.UTF8.GetByteCount(reason) > 123)
        {
            return "reason is over 123 bytes of UTF-8 (a close frame's limit)";
        }

        end = SessionEnds.ByOperator(code, request.Reason);
        return null;
    }

    private static string? ToFilter(CloseRequest request, out SessionFilter? filter)
    {
        filter = null;
        System.Net.IPAddress? client = null;
        if (request.Client is { } text && !SessionFilter.TryParseClient(text, out client))
        {
            return $"client '{text}' is not an IP address";
        }

        filter = new SessionFilter(request.Route, request.Cluster, request.Destination, client);
        return null;
    }

    private string? ParseList(IQueryCollection query, out SessionFilter filter, out int limit, out long after)
    {
        filter = new SessionFilter(null, null, null, null);
        limit = _options.DefaultPageSize;
        after = long.MaxValue;
        if (query.Keys.FirstOrDefault(key => !ListParameters.Contains(key, StringComparer.Ordinal)) is { } unknown)
        {
            return $"unknown parameter '{unknown}'; a listing takes {string.Join(", ", ListParameters)}";
        }

        if (query.Any(static parameter => parameter.Value.Count != 1))
        {
            return "each parameter may be given once";
        }

        if (query.TryGetValue("limit", out var limitText)
            && !(int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit >= 1 && limit <= _options.MaxPageSize))
        {
            return $"limit '{limitText}' is not a whole number from 1 to {_options.MaxPageSize} (Gateway:Management:MaxPageSize)";
        }

        if (query.TryGetValue("after", out var afterText)
            && !(long.TryParse(afterText, NumberStyles.None, CultureInfo.InvariantCulture, out after) && after >= 1))
        {
            return $"after '{afterText}' is not a session id (the 'next' of the previous page)";
        }

        System.Net.IPAddress? client = null;
        if (query.TryGetValue("client", out var clientText) && !SessionFilter.TryParseClient(clientText.ToString(), out client))
        {
            return $"client '{clientText}' is not an IP address";
        }

        filter = new SessionFilter(Value(query, "route"), Value(query, "cluster"), Value(query, "destination"), client);
        return null;
    }

    private static string? Value(IQueryCollection query, string key) => query.TryGetValue(key, out var value) ? value.ToString() : null;

    private Session? Find(HttpContext context, out long id)
    {
        id = long.Parse((string)context.GetRouteValue("id")!, CultureInfo.InvariantCulture);
        foreach (var session in _registry.Sessions)
        {
            if (session.Id == id)
            {
                return session;
            }
        }

        return null;
    }

    private SessionView View(Session session, long now)
    {
        var frequency = (double)_timeProvider.TimestampFrequency;
        return new SessionView(
            session.Id,
            session.RouteId,
            session.ClusterId,
            session.DestinationId,
            session.DestinationAddress,
            session.ClientAddress is { } address ? SessionFilter.Normal(address).ToString() : null,
            session.ClientPort,
            session.Protocol.ToTagValue(),
            session.Path.ToTagValue(),
            session.Tier.ToTagValue(),
            session.Degraded,
            Math.Round((now - session.StartTimestamp) / frequency, 3),
            Math.Round(Math.Max(0, now - session.LastMessageTimestamp) / frequency, 3),
            session.RoundTripTicks is > 0 and var ticks ? Math.Round(ticks * 1000 / frequency, 3) : null,
            session.ClientMessages,
            session.ClientBytes,
            session.BackendMessages,
            session.BackendBytes,
            session.GatewayCloseReason?.ToTagValue());
    }

    /// <summary>A request whose body (or what it asks) cannot be taken: 413 when too large, else 400.</summary>
    private Task RefuseBodyAsync(HttpContext context, string problem)
        => RefuseAsync(context, problem == TooLarge ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest, problem);

    private Task RefuseAsync(HttpContext context, int status, string problem)
    {
        Log.Failed(_logger, context.Request.Method, Target(context), context.Connection.RemoteIpAddress, status, problem);
        return WriteAsync(context, status, new ErrorBody(problem), ManagementJsonContext.Default.ErrorBody);
    }

    private static Task WriteAsync<T>(HttpContext context, int status, T body, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = status;
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsJsonAsync(body, type, contentType: null, context.RequestAborted);
    }

    private static string Target(HttpContext context) => $"{context.Request.PathBase}{context.Request.Path}{context.Request.QueryString}";

    private static void Increment<TKey>(Dictionary<TKey, int> counts, TKey key)
        where TKey : notnull
    {
        System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, key, out _)++;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Management call {Method} {Target} from {RemoteAddress} refused (401): {Problem}.", EventName = "ManagementCallUnauthorized")]
        public static partial void Refused(ILogger logger, string method, string target, System.Net.IPAddress? remoteAddress, string problem);

        [LoggerMessage(2, LogLevel.Information, "Management call {Method} {Target} from {RemoteAddress} failed ({Status}): {Problem}.", EventName = "ManagementCallFailed")]
        public static partial void Failed(ILogger logger, string method, string target, System.Net.IPAddress? remoteAddress, int status, string problem);

        [LoggerMessage(3, LogLevel.Information, "Management call {Method} {Target} from {RemoteAddress}: listed {Returned} of {Matched} matching sessions ({Total} live).", EventName = "ManagementSessionsListed")]
        public static partial void Listed(ILogger logger, string method, string target, System.Net.IPAddress? remoteAddress, int returned, int matched, int total);

        [LoggerMessage(4, LogLevel.Information, "Management call {Method} {Target} from {RemoteAddress}: counted {Total} live sessions.", EventName = "ManagementSessionsCounted")]
        public static partial void Counted(ILogger logger, string method, string target, System.Net.IPAddress? remoteAddress, int total);

        [LoggerMessage(5, LogLevel.Information, "Management call {Method} {Target} from {RemoteAddress}: showed session {SessionId}.", EventName = "ManagementSessionShown")]
        public static partial void Shown(ILogger logger, string method, string target, System.Net.IPAddress? remoteAddress, long sessionId);

        [LoggerMessage(6, LogLevel.Warning, "Management call {Method} {Target} from {RemoteAddress}: {Matched} sessions matched, {Closing} are being closed with {Code} '{Reason}' (backend told first), {AlreadyEnding} were already ending.", EventName = "ManagementSessionsClosed")]
        public static partial void Closed(ILogger logger, string method, string target, System.Net.IPAddress? remoteAddress, int matched, int closing, int alreadyEnding, int code, string reason);

        [LoggerMessage(7, LogLevel.Warning, "Management call {Method} {Target} from {RemoteAddress}: destination drain started, {Sessions} sessions closed (1012) over {WindowSeconds} s.", EventName = "ManagementDestinationDrained")]
        public static partial void Drained(ILogger logger, string method, string target, System.Net.IPAddress? remoteAddress, int sessions, double windowSeconds);

        [LoggerMessage(8, LogLevel.Information, "The management API has no token (Gateway:Management:TokenFile): every /admin call is refused with 401.", EventName = "ManagementApiWithoutToken")]
        public static partial void NoToken(ILogger logger);
    }
}
