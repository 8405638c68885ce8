using System.Globalization;

namespace Gateway.IntegrationTests.Telemetry;

/// <summary>
/// One span as an <see cref="OtlpReceiver"/> decoded it from OTLP protobuf (opentelemetry-proto trace v1). Ids are
/// lowercase hex; attribute values are <see cref="string"/>, <see cref="long"/> (int_value), <see cref="bool"/>,
/// <see cref="double"/>, <c>byte[]</c> (bytes_value), null (an empty AnyValue), or for arrays and kvlists
/// their JSON text (<c>["a",1]</c>, <c>{"k":true}</c>).
/// </summary>
internal sealed record OtlpSpan
{
    public required string TraceId { get; init; }

    public required string SpanId { get; init; }

    /// <summary>Empty for a root span.</summary>
    public required string ParentSpanId { get; init; }

    public required string Name { get; init; }

    /// <summary>The proto's SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.</summary>
    public required int Kind { get; init; }

    public required ulong StartUnixNano { get; init; }

    public required ulong EndUnixNano { get; init; }

    public required IReadOnlyDictionary<string, object?> Attributes { get; init; }

    /// <summary>The proto's StatusCode: 0 unset, 1 ok, 2 error.</summary>
    public required int StatusCode { get; init; }

    public required string StatusMessage { get; init; }

    /// <summary>The instrumentation scope's name (the ActivitySource's name, for .NET).</summary>
    public required string ScopeName { get; init; }

    public required IReadOnlyDictionary<string, object?> ResourceAttributes { get; init; }

    public TimeSpan Duration => TimeSpan.FromTicks(((long)EndUnixNano - (long)StartUnixNano) / 100);

    /// <summary>The attribute as invariant text (booleans <c>true</c>/<c>false</c>, bytes base64); null when absent or empty.</summary>
    public string? Attr(string key) => Attributes.TryGetValue(key, out var value) ? Format(value) : null;

    internal static string? Format(object? value) => value switch
    {
        null => null,
        string text => text,
        bool flag => flag ? "true" : "false",
        byte[] bytes => Convert.ToBase64String(bytes),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
