using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Admission;

/// <summary>
/// What a route's metadata says about admitting its sessions:
/// <list type="bullet">
/// <item><c>Gateway.Priority</c> = <c>true</c>: still admits between the high and the critical watermark
/// (control channels, paying customers, the operators' own tools).</item>
/// <item><c>Gateway.BrowserFacing</c> = <c>true</c>: rejections accept the upgrade and close it at once with
/// 1013 "Try Again Later" and the retry hint, because a browser's WebSocket API cannot read the status of a
/// failed upgrade (it reports 1006 and nothing else).</item>
/// <item><c>Gateway.AllowedOrigins</c>: comma-separated origins allowed to open sessions
/// (<c>https://app.example.com</c>, <c>https://*.example.com</c>, or <c>*</c>), against cross-site WebSocket
/// hijacking. A request without <c>Origin</c> (not a browser) passes; absent metadata allows every origin.</item>
/// </list>
/// Parsed once per route configuration object: YARP replaces the object on every reload.
/// </summary>
internal sealed class RouteAdmissionPolicy
{
    public const string PriorityMetadata = "Gateway.Priority";
    public const string BrowserFacingMetadata = "Gateway.BrowserFacing";
    public const string AllowedOriginsMetadata = "Gateway.AllowedOrigins";

    private static readonly ConditionalWeakTable<RouteConfig, RouteAdmissionPolicy> Cache = [];
    private static readonly RouteAdmissionPolicy Default = new(false, false, null);

    private RouteAdmissionPolicy(bool priority, bool browserFacing, OriginAllowList? origins)
    {
        Priority = priority;
        BrowserFacing = browserFacing;
        Origins = origins;
    }

    public bool Priority { get; }

    public bool BrowserFacing { get; }

    /// <summary>Null when every origin is allowed.</summary>
    public OriginAllowList? Origins { get; }

    public static RouteAdmissionPolicy For(RouteConfig route)
    {
        if (route.Metadata is null || route.Metadata.Count == 0)
        {
            return Default;
        }

        return Cache.GetValue(route, static route => Parse(route.Metadata, out _));
    }

    /// <summary>The policy, and every problem with the metadata (the start-up validator and reloads report them).</summary>
    public static RouteAdmissionPolicy Parse(IReadOnlyDictionary<string, string>? metadata, out List<string> errors)
    {
        errors = [];
        if (metadata is null)
        {
            return Default;
        }

        var priority = ParseFlag(metadata, PriorityMetadata, errors);
        var browserFacing = ParseFlag(metadata, BrowserFacingMetadata, errors);
        OriginAllowList? origins = null;
        if (metadata.TryGetValue(AllowedOriginsMetadata, out var text))
        {
            origins = OriginAllowList.Parse(text, out var originErrors);
            errors.AddRange(originErrors.Select(error => $"metadata '{AllowedOriginsMetadata}': {error}"));
        }

        return new RouteAdmissionPolicy(priority, browserFacing, origins);
    }

    /// <summary>A "true"/"false" metadata value; absent is false; anything else is an error (and false).</summary>
    internal static bool ParseFlag(IReadOnlyDictionary<string, string>? metadata, string key, List<string> errors)
    {
        if (metadata is null || !metadata.TryGetValue(key, out var text))
        {
            return false;
        }

        if (bool.TryParse(text, out var value))
        {
            return value;
        }

        errors.Add($"metadata '{key}' = '{text}' is neither 'true' nor 'false'.");
        return false;
    }
}

/// <summary>
/// Origins allowed on a route. Origins compare case-insensitively (scheme and host are); a pattern
/// <c>https://*.example.com</c> matches any subdomain of example.com over https, not example.com itself.
/// </summary>
internal sealed class OriginAllowList
{
    private readonly HashSet<string> _exact;
    private readonly (string Scheme, string Suffix)[] _wildcards;
    private readonly bool _any;

    private OriginAllowList(HashSet<string> exact, (string Scheme, string Suffix)[] wildcards, bool any)
    {
        _exact = exact;
        _wildcards = wildcards;
        _any = any;
    }

    public static OriginAllowList Parse(string text, out List<string> errors)
    {
        errors = [];
        var exact = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var wildcards = new List<(string, string)>();
        var any = false;
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw == "*")
            {
                any = true;
                continue;
            }

            var schemeEnd = raw.IndexOf("://", StringComparison.Ordinal);
            if (schemeEnd <= 0 || raw.EndsWith('/'))
            {
                errors.Add($"'{raw}' is not an origin (scheme://host[:port], no path, e.g. https://app.example.com).");
                continue;
            }

            var scheme = raw[..schemeEnd];
            var host = raw[(schemeEnd + 3)..];
            if (host.StartsWith("*.", StringComparison.Ordinal))
            {
                var rest = host[1..];
                if (rest.Length < 2 || rest.Contains('*', StringComparison.Ordinal) || rest.Contains('/', StringComparison.Ordinal))
                {
                    errors.Add($"'{raw}' is not a valid wildcard origin (e.g. https://*.example.com).");
                    continue;
                }

                wildcards.Add((scheme, rest));
                continue;
            }

            if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || uri.PathAndQuery != "/" || host.Contains('*', StringComparison.Ordinal) || raw.IndexOf('/', schemeEnd + 3) >= 0)
            {
                errors.Add($"'{raw}' is not an origin (scheme://host[:port], no path, e.g. https://app.example.com).");
                continue;
            }

            exact.Add(raw);
        }

        if (exact.Count == 0 && wildcards.Count == 0 && !any && errors.Count == 0)
        {
            errors.Add("lists no origin; remove the key to allow every origin, or name at least one.");
        }

        return new OriginAllowList(exact, [.. wildcards], any);
    }

    public bool IsAllowed(string origin)
    {
        if (_any || _exact.Contains(origin))
        {
            return true;
        }

        var span = origin.AsSpan();
        var schemeEnd = span.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
        {
            return false;
        }

        var scheme = span[..schemeEnd];
        var host = span[(schemeEnd + 3)..];
        foreach (var (wildScheme, suffix) in _wildcards)
        {
            // ".example.com" with at least one label before it; a port must match exactly, as it is part of the suffix.
            if (scheme.Equals(wildScheme, StringComparison.OrdinalIgnoreCase)
                && host.Length > suffix.Length
                && host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && host[..^suffix.Length].IndexOfAny('/', '@') < 0)
            {
                return true;
            }
        }

        return false;
    }
}
