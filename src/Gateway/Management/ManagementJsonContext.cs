using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Management;

/// <summary>The management API's JSON, source-generated: camelCase, nulls written, unknown request fields refused (a typo must not widen a close).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(SessionPage))]
[JsonSerializable(typeof(SessionView))]
[JsonSerializable(typeof(SessionCounts))]
[JsonSerializable(typeof(CloseRequest))]
[JsonSerializable(typeof(CloseResult))]
[JsonSerializable(typeof(DrainRequest))]
[JsonSerializable(typeof(DrainResult))]
[JsonSerializable(typeof(ErrorBody))]
internal sealed partial class ManagementJsonContext : JsonSerializerContext;
