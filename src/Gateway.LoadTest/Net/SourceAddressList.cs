using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Gateway.LoadTest.Net;

/// <summary>
/// The local addresses client sockets bind to, from <c>--source-ips</c>: a comma list of addresses and
/// inclusive IPv4 ranges (<c>127.0.0.2-127.0.0.60</c>). Each address has its own ~28,000 ephemeral ports toward
/// one server address, so spreading sessions over many source addresses keeps the ports from running out.
/// </summary>
internal static class SourceAddressList
{
    /// <summary>A range longer than this is surely a typo (a /16 is 65,536 addresses).</summary>
    public const int MaxAddresses = 65_536;

    public static IReadOnlyList<IPAddress> Parse(string text)
    {
        if (!TryParse(text, out var addresses, out var error))
        {
            throw new FormatException(error);
        }

        return addresses;
    }

    public static bool TryParse(string? text, out IReadOnlyList<IPAddress> addresses, out string error)
    {
        addresses = [];
        error = "";
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "--source-ips is empty; give addresses or ranges such as 127.0.0.2-127.0.0.60,127.0.1.1.";
            return false;
        }

        var list = new List<IPAddress>();
        foreach (var rawPart in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (rawPart.Length == 0)
            {
                error = $"--source-ips '{text}' has an empty item.";
                return false;
            }

            var dash = rawPart.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0)
            {
                if (!IPAddress.TryParse(rawPart, out var single))
                {
                    error = $"--source-ips: '{rawPart}' is not an IP address.";
                    return false;
                }

                list.Add(single);
                continue;
            }

            var firstText = rawPart[..dash].Trim();
            var lastText = rawPart[(dash + 1)..].Trim();
            if (!IPAddress.TryParse(firstText, out var first) || first.AddressFamily != AddressFamily.InterNetwork
                || !IPAddress.TryParse(lastText, out var last) || last.AddressFamily != AddressFamily.InterNetwork)
            {
                error = $"--source-ips: '{rawPart}' is not a range of two IPv4 addresses (first-last).";
                return false;
            }

            var from = ToUInt32(first);
            var to = ToUInt32(last);
            if (to < from)
            {
                error = $"--source-ips: range '{rawPart}' ends before it starts.";
                return false;
            }

            if (to - from + 1 + (ulong)list.Count > MaxAddresses)
            {
                error = $"--source-ips: more than {MaxAddresses} addresses.";
                return false;
            }

            for (var value = (ulong)from; value <= to; value++)
            {
                list.Add(FromUInt32((uint)value));
            }
        }

        if (list.Count > MaxAddresses)
        {
            error = $"--source-ips: more than {MaxAddresses} addresses.";
            return false;
        }

        addresses = list;
        return true;
    }

    /// <summary>Worker <paramref name="index"/> of <paramref name="count"/> takes every count-th address; with
    /// fewer addresses than workers, each worker takes one, shared round-robin.</summary>
    public static IReadOnlyList<IPAddress> ShareOf(IReadOnlyList<IPAddress> addresses, int index, int count)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Count == 0 || count <= 1)
        {
            return addresses;
        }

        if (addresses.Count < count)
        {
            return [addresses[index % addresses.Count]];
        }

        var share = new List<IPAddress>();
        for (var i = index; i < addresses.Count; i += count)
        {
            share.Add(addresses[i]);
        }

        return share;
    }

    private static uint ToUInt32(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    private static IPAddress FromUInt32(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
