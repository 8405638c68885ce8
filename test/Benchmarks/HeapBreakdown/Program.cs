using System.Globalization;
using System.Text.Json;
using Microsoft.Diagnostics.Runtime;

// Usage: HeapBreakdown <pid> <out.json> [type,type,...]   (the listed types' referrers are counted too)
// Suspends the process (ptrace, same user), walks the managed heap from its roots so only live objects count, and
// writes per type: count and bytes, and per owner: bytes. A type's owner is the component its namespace names;
// objects of general-purpose types (arrays, strings, tasks, collections: anything in System.* outside System.Net.*)
// are charged to the owner of the object through which the walk first reached them, so a Kestrel connection's byte
// arrays count as Kestrel's. The walk is breadth-first from the roots, which makes "first reached" the shortest path.
if (args.Length is < 2 or > 3 || !int.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
{
    Console.Error.WriteLine("usage: HeapBreakdown <pid> <out.json> [type,type,...]");
    return 2;
}

using var target = DataTarget.AttachToProcess(pid, suspend: true);
// The DAC ships beside the target's runtime (symbol-server download is off on Linux): take it from there.
var clr = target.ClrVersions[0];
var dac = Path.Combine(Path.GetDirectoryName(clr.ModuleInfo.FileName) ?? "", "libmscordaccore.so");
using var runtime = File.Exists(dac) ? clr.CreateRuntime(dac, ignoreMismatch: true) : clr.CreateRuntime();
// (ClrMD reads the version of an attached Linux runtime as 0.0, hence ignoreMismatch: the DAC is the runtime's own.)
var heap = runtime.Heap;

var owners = new Dictionary<ulong, string>();
var queue = new Queue<(ulong Address, string Owner)>();
foreach (var root in heap.EnumerateRoots())
{
    var obj = root.Object;
    if (obj.IsValid && !owners.ContainsKey(obj.Address))
    {
        var owner = Owner.Of(obj.Type?.Name) ?? "unattributed (roots)";
        owners[obj.Address] = owner;
        queue.Enqueue((obj.Address, owner));
    }
}

var types = new Dictionary<string, (long Count, long Bytes)>(StringComparer.Ordinal);
var watched = args.Length == 3 ? args[2].Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal) : [];
var referrers = new Dictionary<string, Dictionary<string, long>>(StringComparer.Ordinal);
var byOwner = new Dictionary<string, long>(StringComparer.Ordinal);
while (queue.Count > 0)
{
    var (address, owner) = queue.Dequeue();
    var obj = heap.GetObject(address);
    if (!obj.IsValid)
    {
        continue;
    }

    var name = obj.Type?.Name ?? "?";
    var size = (long)obj.Size;
    types[name] = types.TryGetValue(name, out var t) ? (t.Count + 1, t.Bytes + size) : (1, size);
    byOwner[owner] = byOwner.GetValueOrDefault(owner) + size;
    foreach (var child in obj.EnumerateReferences(carefully: false, considerDependantHandles: true))
    {
        if (child.IsValid && !owners.ContainsKey(child.Address))
        {
            var childOwner = Owner.Of(child.Type?.Name) ?? owner;
            if (child.Type?.Name is { } childType && watched.Contains(childType))
            {
                // The referrer through which the walk first reached it (the shortest path from a root).
                var counts = referrers.TryGetValue(childType, out var found) ? found : referrers[childType] = new(StringComparer.Ordinal);
                counts[name] = counts.GetValueOrDefault(name) + 1;
            }

            owners[child.Address] = childOwner;
            queue.Enqueue((child.Address, childOwner));
        }
    }
}

var result = new
{
    pid,
    liveObjects = owners.Count,
    liveBytes = byOwner.Values.Sum(),
    owners = byOwner.OrderByDescending(kv => kv.Value).ToDictionary(kv => kv.Key, kv => kv.Value),
    referrers,
    types = types.OrderByDescending(kv => kv.Value.Bytes).Select(kv => new { type = kv.Key, count = kv.Value.Count, bytes = kv.Value.Bytes }),
};
await File.WriteAllTextAsync(args[1], JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{owners.Count} live objects, {result.liveBytes} bytes -> {args[1]}"));
return 0;

internal static class Owner
{
    // First match wins; generic instantiations are matched on their whole name, so an async state machine box of a
    // Kestrel method is Kestrel's.
    private static readonly (string Marker, string Owner)[] Markers =
    [
        ("Gateway.", "gateway (our features)"),
        ("Yarp.", "YARP"),
        ("Microsoft.AspNetCore.Server.Kestrel", "Kestrel (connection, HTTP/1.1 and HTTP/2 state, transport)"),
        ("System.IO.Pipelines", "Kestrel (connection, HTTP/1.1 and HTTP/2 state, transport)"),
        ("Microsoft.AspNetCore.Connections", "Kestrel (connection, HTTP/1.1 and HTTP/2 state, transport)"),
        ("System.Net.Http", "HttpClient (backend connection)"),
        ("System.Net.Sockets", "sockets (System.Net.Sockets)"),
        ("Microsoft.AspNetCore.", "ASP.NET Core HTTP (HttpContext, features, routing)"),
        ("Microsoft.Extensions.", "hosting, DI, logging, options"),
        ("System.Net.", "sockets (System.Net.Sockets)"),
        ("OpenTelemetry", "telemetry (OpenTelemetry)"),
        ("Prometheus", "telemetry (prometheus-net)"),
        ("System.Diagnostics", "telemetry (System.Diagnostics)"),
    ];

    public static string? Of(string? typeName)
    {
        if (typeName is null)
        {
            return null;
        }

        foreach (var (marker, owner) in Markers)
        {
            if (typeName.Contains(marker, StringComparison.Ordinal))
            {
                return owner;
            }
        }

        return null;
    }
}
