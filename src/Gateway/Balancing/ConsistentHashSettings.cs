using System.Net;
using System.Runtime.CompilerServices;
using Gateway.Sessions;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Balancing;

/// <summary>
/// A cluster's <see cref="ConsistentHashPolicy"/> settings, from its metadata:
/// <list type="bullet">
/// <item><c>Gateway.HashKey</c>: which part of an upgrade request is hashed: <c>client</c> (the default, the client's
/// address), <c>header:NAME</c>, <c>query:NAME</c>, <c>route:NAME</c> or <c>cookie:NAME</c>. A request without the
/// key (no such header, say) is hashed by its client address instead, so it still lands on one stable
/// destination.</item>
/// <item><c>Gateway.HashBalanceFactor</c>: bounded load (HAProxy's <c>hash-balance-factor</c>, as a factor): no
/// destination takes a new session while it holds more than this many times the average; the key then goes to its
/// next destination in hash order. Absent: unbounded (a hot key's destination takes all of it).</item>
/// </list>
/// Parsed once per cluster configuration object (YARP replaces the object on every reload).
/// </summary>
internal sealed class ConsistentHashSettings
{
    public const string KeyMetadata = "Gateway.HashKey";
    public const string BalanceFactorMetadata = "Gateway.HashBalanceFactor";

    private static readonly ConditionalWeakTable<ClusterConfig, ConsistentHashSettings> Cache = [];
    private static readonly ConsistentHashSettings Default = new(HashKeySource.Client, "", null);

    private ConsistentHashSettings(HashKeySource source, string name, double? balanceFactor)
    {
        Source = source;
        Name = name;
        BalanceFactor = balanceFactor;
    }

    public HashKeySource Source { get; }

    /// <summary>The header, query parameter, route value or cookie; empty for the client address.</summary>
    public string Name { get; }

    /// <summary>Null: unbounded.</summary>
    public double? BalanceFactor { get; }

    public static ConsistentHashSettings For(ClusterConfig cluster)
        => cluster.Metadata is { Count: > 0 } ? Cache.GetValue(cluster, static cluster => Parse(cluster.Metadata, out _)) : Default;

    /// <summary>The settings, and what is wrong with the metadata (the start-up validator and reloads report it; a wrong value counts as absent).</summary>
    public static ConsistentHashSettings Parse(IReadOnlyDictionary<string, string>? metadata, out List<string> errors)
    {
        errors = [];
        if (metadata is null)
        {
            return Default;
        }

        double? factor = null;
        if (metadata.TryGetValue(BalanceFactorMetadata, out var factorText))
        {
            if (double.TryParse(factorText, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) && value > 1 && double.IsFinite(value))
            {
                factor = value;
            }
            else
            {
                errors.Add($"metadata '{BalanceFactorMetadata}' = '{factorText}' is not a number above 1 (1.25: no destination above 125 % of the average).");
            }
        }

        var (source, name) = ParseKey(metadata, errors);
        return source == HashKeySource.Client && factor is null ? Default : new ConsistentHashSettings(source, name, factor);
    }

    private static (HashKeySource Source, string Name) ParseKey(IReadOnlyDictionary<string, string> metadata, List<string> errors)
    {
        if (!metadata.TryGetValue(KeyMetadata, out var text) || text.Trim() is not { Length: > 0 } spec
            || string.Equals(spec, "client", StringComparison.OrdinalIgnoreCase))
        {
            return (HashKeySource.Client, "");
        }

        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        var kind = colon < 0 ? spec : spec[..colon].Trim();
        var name = colon < 0 ? "" : spec[(colon + 1)..].Trim();
        HashKeySource? source = kind.ToLowerInvariant() switch
        {
            "header" => HashKeySource.Header,
            "query" => HashKeySource.Query,
            "route" => HashKeySource.Route,
            "cookie" => HashKeySource.Cookie,
            _ => null,
        };
        if (source is null || name.Length == 0)
        {
            errors.Add($"metadata '{KeyMetadata}' = '{text}' is none of 'client', 'header:NAME', 'query:NAME', 'route:NAME', 'cookie:NAME'.");
            return (HashKeySource.Client, "");
        }

        return (source.Value, name);
    }

    /// <summary>The request's key as a 64-bit hash (no allocation for a header or an address; a query or cookie key parses those once per request).</summary>
    public ulong HashOf(HttpContext context)
    {
        var value = Source switch
        {
            HashKeySource.Header => First(context.Request.Headers[Name]),
            HashKeySource.Query => First(context.Request.Query[Name]),
            HashKeySource.Route => context.Request.RouteValues[Name]?.ToString(),
            HashKeySource.Cookie => context.Request.Cookies[Name],
            _ => null,
        };

        return string.IsNullOrEmpty(value) ? HashOf(AddressOf(context)) : RendezvousHash.HashOf(value);
    }

    private static string? First(Microsoft.Extensions.Primitives.StringValues values) => values.Count > 0 ? values[0] : null;

    /// <summary>The client's address; an IPv4 client on a dual-stack listener hashes as IPv4.</summary>
    private static IPAddress? AddressOf(HttpContext context)
    {
        var address = context.Features.Get<IClientAddressFeature>()?.ClientAddress ?? context.Connection.RemoteIpAddress;
        return address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
    }

    private static ulong HashOf(IPAddress? address)
    {
        Span<byte> bytes = stackalloc byte[16];
        return address is not null && address.TryWriteBytes(bytes, out var written)
            ? RendezvousHash.HashOf(bytes[..written])
            : 0;
    }
}
