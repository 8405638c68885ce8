using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.IntegrationTests.Telemetry;

/// <summary>
/// A real OTLP/HTTP trace receiver on 127.0.0.1:0 (Kestrel, HTTP/1.1): <c>POST /v1/traces</c> with an
/// <c>application/x-protobuf</c> ExportTraceServiceRequest, gzip or not, is decoded by hand (no protobuf package)
/// and its spans kept; the answer is 200 with an empty ExportTraceServiceResponse. Other paths get 404, other
/// methods 405, other content types or encodings 415, undecodable bodies 400. Counts the TCP connections it accepts.
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private const string Protobuf = "application/x-protobuf";

    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private readonly List<OtlpSpan> _spans = [];
    private readonly List<byte[]> _metricExports = [];
    private int _connections;

    private OtlpReceiver(WebApplication app)
    {
        _app = app;
    }

    /// <summary>The base address, <c>http://127.0.0.1:PORT/</c>: traces go to <c>new Uri(Endpoint, "/v1/traces")</c>.</summary>
    public Uri Endpoint { get; private set; } = null!;

    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Whether an OTLP metrics export (<c>POST /v1/metrics</c>, not decoded) named <paramref name="instrument"/>.</summary>
    public bool MetricsNamed(string instrument)
    {
        var name = Encoding.UTF8.GetBytes(instrument);
        lock (_lock)
        {
            return _metricExports.Exists(body => body.AsSpan().IndexOf(name) >= 0);
        }
    }

    /// <summary>A copy of the spans received so far, in arrival order.</summary>
    public IReadOnlyList<OtlpSpan> Spans
    {
        get
        {
            lock (_lock)
            {
                return [.. _spans];
            }
        }
    }

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        OtlpReceiver? receiver = null;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listener =>
        {
            listener.Protocols = HttpProtocols.Http1;
            listener.Use(next => context =>
            {
                Interlocked.Increment(ref receiver!._connections);
                return next(context);
            });
        }));
        var app = builder.Build();
        receiver = new OtlpReceiver(app);
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Endpoint = new Uri($"http://127.0.0.1:{new Uri(address).Port}/");
        return receiver;
    }

    /// <summary>
    /// Waits until at least <paramref name="count"/> received spans satisfy <paramref name="match"/> and returns all
    /// that do; throws <see cref="TimeoutException"/> naming every span received if they are not there in time.
    /// </summary>
    public async Task<IReadOnlyList<OtlpSpan>> WaitForSpansAsync(Func<OtlpSpan, bool> match, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var spans = Spans;
            var matching = spans.Where(match).ToArray();
            if (matching.Length >= count)
            {
                return matching;
            }

            if (DateTime.UtcNow >= deadline)
            {
                var seen = spans.Count == 0 ? "none" : string.Join(", ", spans.Select(span => span.Name));
                throw new TimeoutException($"{matching.Length} of {count} matching spans after {timeout.TotalSeconds} s; spans received: {seen}.");
            }

            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        if (request.Path == "/v1/metrics" && HttpMethods.IsPost(request.Method))
        {
            // Metrics are not decoded: kept raw, so a test can see which instruments an export named.
            using var raw = new MemoryStream();
            await request.Body.CopyToAsync(raw, context.RequestAborted);
            lock (_lock)
            {
                _metricExports.Add(raw.ToArray());
            }

            response.ContentType = Protobuf;
            return;
        }

        if (request.Path != "/v1/traces")
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!HttpMethods.IsPost(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        var encoding = request.Headers.ContentEncoding.ToString();
        if (request.ContentType?.StartsWith(Protobuf, StringComparison.OrdinalIgnoreCase) != true
            || encoding is not ("" or "identity" or "gzip"))
        {
            response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            return;
        }

        List<OtlpSpan> spans;
        try
        {
            using var body = new MemoryStream();
            if (encoding == "gzip")
            {
                await using var gzip = new GZipStream(request.Body, CompressionMode.Decompress);
                await gzip.CopyToAsync(body, context.RequestAborted);
            }
            else
            {
                await request.Body.CopyToAsync(body, context.RequestAborted);
            }

            spans = Wire.DecodeExportRequest(body.GetBuffer().AsSpan(0, (int)body.Length));
        }
        catch (InvalidDataException exception)
        {
            response.StatusCode = StatusCodes.Status400BadRequest;
            await response.WriteAsync(exception.Message);
            return;
        }

        lock (_lock)
        {
            _spans.AddRange(spans);
        }

        // An ExportTraceServiceResponse without partial_success encodes to nothing.
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = Protobuf;
        response.ContentLength = 0;
    }

    /// <summary>
    /// The protobuf wire format of ExportTraceServiceRequest (opentelemetry-proto collector/trace/v1), reading the
    /// fields <see cref="OtlpSpan"/> holds and skipping every other field by its wire type. A field may appear in any
    /// order, so a message's context (resource, scope) is read in a first pass over it and its spans in a second.
    /// </summary>
    private static class Wire
    {
        private const int Varint = 0;
        private const int Fixed64 = 1;
        private const int Length = 2;
        private const int Fixed32 = 5;

        private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        public static List<OtlpSpan> DecodeExportRequest(ReadOnlySpan<byte> data)
        {
            var spans = new List<OtlpSpan>();
            for (var reader = new Reader(data); reader.Next();)
            {
                if (reader.Is(1, Length))
                {
                    ResourceSpans(reader.ReadBytes(), spans);
                }
                else
                {
                    reader.Skip();
                }
            }

            return spans;
        }

        private static void ResourceSpans(ReadOnlySpan<byte> data, List<OtlpSpan> spans)
        {
            var resource = new Dictionary<string, object?>();
            for (var reader = new Reader(data); reader.Next();)
            {
                if (reader.Is(1, Length))
                {
                    // Resource { repeated KeyValue attributes = 1; }
                    for (var fields = new Reader(reader.ReadBytes()); fields.Next();)
                    {
                        Attribute(ref fields, 1, resource);
                    }
                }
                else
                {
                    reader.Skip();
                }
            }

            for (var reader = new Reader(data); reader.Next();)
            {
                if (reader.Is(2, Length))
                {
                    ScopeSpans(reader.ReadBytes(), resource, spans);
                }
                else
                {
                    reader.Skip();
                }
            }
        }

        private static void ScopeSpans(ReadOnlySpan<byte> data, Dictionary<string, object?> resource, List<OtlpSpan> spans)
        {
            var scope = "";
            for (var reader = new Reader(data); reader.Next();)
            {
                if (reader.Is(1, Length))
                {
                    // InstrumentationScope { string name = 1; }
                    for (var fields = new Reader(reader.ReadBytes()); fields.Next();)
                    {
                        if (fields.Is(1, Length))
                        {
                            scope = fields.ReadString();
                        }
                        else
                        {
                            fields.Skip();
                        }
                    }
                }
                else
                {
                    reader.Skip();
                }
            }

            for (var reader = new Reader(data); reader.Next();)
            {
                if (reader.Is(2, Length))
                {
                    spans.Add(Span(reader.ReadBytes(), scope, resource));
                }
                else
                {
                    reader.Skip();
                }
            }
        }

        private static OtlpSpan Span(ReadOnlySpan<byte> data, string scope, Dictionary<string, object?> resource)
        {
            string traceId = "", spanId = "", parentSpanId = "", name = "", statusMessage = "";
            int kind = 0, statusCode = 0;
            ulong start = 0, end = 0;
            var attributes = new Dictionary<string, object?>();
            for (var reader = new Reader(data); reader.Next();)
            {
                switch (reader.Field, reader.WireType)
                {
                    case (1, Length): traceId = Convert.ToHexStringLower(reader.ReadBytes()); break;
                    case (2, Length): spanId = Convert.ToHexStringLower(reader.ReadBytes()); break;
                    case (4, Length): parentSpanId = Convert.ToHexStringLower(reader.ReadBytes()); break;
                    case (5, Length): name = reader.ReadString(); break;
                    case (6, Varint): kind = (int)reader.ReadVarint(); break;
                    case (7, Fixed64): start = reader.ReadFixed64(); break;
                    case (8, Fixed64): end = reader.ReadFixed64(); break;
                    case (9, Length): Attribute(ref reader, 9, attributes); break;
                    case (15, Length):
                        // Status { string message = 2; StatusCode code = 3; }
                        for (var status = new Reader(reader.ReadBytes()); status.Next();)
                        {
                            switch (status.Field, status.WireType)
                            {
                                case (2, Length): statusMessage = status.ReadString(); break;
                                case (3, Varint): statusCode = (int)status.ReadVarint(); break;
                                default: status.Skip(); break;
                            }
                        }

                        break;
                    default: reader.Skip(); break;
                }
            }

            return new OtlpSpan
            {
                TraceId = traceId,
                SpanId = spanId,
                ParentSpanId = parentSpanId,
                Name = name,
                Kind = kind,
                StartUnixNano = start,
                EndUnixNano = end,
                Attributes = attributes,
                StatusCode = statusCode,
                StatusMessage = statusMessage,
                ScopeName = scope,
                ResourceAttributes = resource,
            };
        }

        /// <summary>Reads the current field into <paramref name="into"/> if it is <paramref name="field"/> (a KeyValue), else skips it.</summary>
        private static void Attribute(ref Reader reader, int field, Dictionary<string, object?> into)
        {
            if (!reader.Is(field, Length))
            {
                reader.Skip();
                return;
            }

            var (key, value) = KeyValue(reader.ReadBytes());
            into[key] = value is JsonNode node ? node.ToJsonString(JsonOptions) : value;
        }

        /// <summary>KeyValue { string key = 1; AnyValue value = 2; }</summary>
        private static (string Key, object? Value) KeyValue(ReadOnlySpan<byte> data)
        {
            var key = "";
            object? value = null;
            for (var reader = new Reader(data); reader.Next();)
            {
                switch (reader.Field, reader.WireType)
                {
                    case (1, Length): key = reader.ReadString(); break;
                    case (2, Length): value = AnyValue(reader.ReadBytes()); break;
                    default: reader.Skip(); break;
                }
            }

            return (key, value);
        }

        /// <summary>AnyValue's oneof; an ArrayValue or KeyValueList comes back as a <see cref="JsonNode"/>, an empty AnyValue as null.</summary>
        private static object? AnyValue(ReadOnlySpan<byte> data)
        {
            object? value = null;
            for (var reader = new Reader(data); reader.Next();)
            {
                switch (reader.Field, reader.WireType)
                {
                    case (1, Length): value = reader.ReadString(); break;
                    case (2, Varint): value = reader.ReadVarint() != 0; break;
                    case (3, Varint): value = (long)reader.ReadVarint(); break;
                    case (4, Fixed64): value = BitConverter.UInt64BitsToDouble(reader.ReadFixed64()); break;
                    case (5, Length):
                        // ArrayValue { repeated AnyValue values = 1; }
                        var array = new JsonArray();
                        for (var values = new Reader(reader.ReadBytes()); values.Next();)
                        {
                            if (values.Is(1, Length))
                            {
                                array.Add(Node(AnyValue(values.ReadBytes())));
                            }
                            else
                            {
                                values.Skip();
                            }
                        }

                        value = array;
                        break;
                    case (6, Length):
                        // KeyValueList { repeated KeyValue values = 1; }
                        var list = new JsonObject();
                        for (var values = new Reader(reader.ReadBytes()); values.Next();)
                        {
                            if (values.Is(1, Length))
                            {
                                var (key, item) = KeyValue(values.ReadBytes());
                                list[key] = Node(item);
                            }
                            else
                            {
                                values.Skip();
                            }
                        }

                        value = list;
                        break;
                    case (7, Length): value = reader.ReadBytes().ToArray(); break;
                    default: reader.Skip(); break;
                }
            }

            return value;
        }

        private static JsonNode? Node(object? value) => value switch
        {
            null => null,
            JsonNode node => node,
            string text => JsonValue.Create(text),
            bool flag => JsonValue.Create(flag),
            long number => JsonValue.Create(number),
            double number when double.IsFinite(number) => JsonValue.Create(number),
            _ => JsonValue.Create(OtlpSpan.Format(value)),
        };

        /// <summary>Reads one message's fields: <see cref="Next"/> moves to a field, whose value is then read or skipped.</summary>
        private ref struct Reader(ReadOnlySpan<byte> data)
        {
            private ReadOnlySpan<byte> _data = data;

            public int Field { get; private set; }

            public int WireType { get; private set; }

            public readonly bool Is(int field, int wireType) => Field == field && WireType == wireType;

            public bool Next()
            {
                if (_data.IsEmpty)
                {
                    return false;
                }

                var tag = ReadVarint();
                Field = (int)(tag >> 3);
                WireType = (int)(tag & 7);
                if (Field == 0)
                {
                    throw new InvalidDataException("Protobuf field number 0.");
                }

                return true;
            }

            public ulong ReadVarint()
            {
                ulong value = 0;
                for (var shift = 0; shift < 70; shift += 7)
                {
                    var b = Take(1)[0];
                    value |= (ulong)(b & 0x7F) << shift;
                    if (b < 0x80)
                    {
                        return value;
                    }
                }

                throw new InvalidDataException("Protobuf varint longer than 10 bytes.");
            }

            public ulong ReadFixed64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

            public ReadOnlySpan<byte> ReadBytes()
            {
                var length = ReadVarint();
                return length <= (ulong)_data.Length ? Take((int)length) : throw new InvalidDataException($"Protobuf field {Field} is {length} bytes, {_data.Length} left.");
            }

            public string ReadString() => Encoding.UTF8.GetString(ReadBytes());

            public void Skip()
            {
                switch (WireType)
                {
                    case Varint: ReadVarint(); break;
                    case Fixed64: Take(8); break;
                    case Length: ReadBytes(); break;
                    case Fixed32: Take(4); break;
                    default: throw new InvalidDataException($"Protobuf wire type {WireType} (field {Field}) is not supported.");
                }
            }

            private ReadOnlySpan<byte> Take(int count)
            {
                if (count > _data.Length)
                {
                    throw new InvalidDataException($"Protobuf message truncated in field {Field}.");
                }

                var taken = _data[..count];
                _data = _data[count..];
                return taken;
            }
        }
    }
}
