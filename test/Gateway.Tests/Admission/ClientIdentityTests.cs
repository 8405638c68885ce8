using System.Net;
using Gateway.Admission;
using Microsoft.Extensions.Primitives;

namespace Gateway.Tests.Admission;

public sealed class ClientIdentityTests
{
    private static readonly IPNetwork[] Trusted = TrustedNetworks.Parse(["10.0.0.0/8", "127.0.0.4", "fd00::/8"]);

    [Theory]
    // Untrusted peer: the header, whatever it says, is the client's own invention.
    [InlineData("203.0.113.9", "6.6.6.6", "203.0.113.9")]
    [InlineData("203.0.113.9", "10.0.0.1", "203.0.113.9")]
    // Trusted peer: the rightmost untrusted entry.
    [InlineData("10.1.2.3", "198.51.100.7", "198.51.100.7")]
    [InlineData("10.1.2.3", "6.6.6.6, 198.51.100.7", "198.51.100.7")]
    [InlineData("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9", "198.51.100.7")]
    [InlineData("127.0.0.4", " 198.51.100.7 ,10.0.0.5 ", "198.51.100.7")]
    // Every hop trusted: the leftmost one.
    [InlineData("10.1.2.3", "10.0.0.7, 10.0.0.8", "10.0.0.7")]
    // Ports and IPv6 forms proxies write.
    [InlineData("10.1.2.3", "198.51.100.7:50123", "198.51.100.7")]
    [InlineData("10.1.2.3", "2001:db8::7", "2001:db8::7")]
    [InlineData("10.1.2.3", "[2001:db8::7]:443", "2001:db8::7")]
    [InlineData("10.1.2.3", "::ffff:198.51.100.7", "198.51.100.7")]
    // Garbage right of the client: stop at the proxy that handed it over.
    [InlineData("10.1.2.3", "198.51.100.7, unknown", "10.1.2.3")]
    [InlineData("10.1.2.3", "198.51.100.7, 10.0.0.9, not-an-ip", "10.1.2.3")]
    [InlineData("10.1.2.3", "", "10.1.2.3")]
    // Dual-stack sockets report IPv4 peers as IPv4-mapped IPv6.
    [InlineData("::ffff:10.1.2.3", "198.51.100.7", "198.51.100.7")]
    [InlineData("::ffff:203.0.113.9", "", "203.0.113.9")]
    public void Resolve_XForwardedFor(string peer, string header, string expected)
    {
        var resolved = ClientIdentity.Resolve(IPAddress.Parse(peer), new StringValues(header), ForwardedHeaderKind.XForwardedFor, Trusted);
        Assert.Equal(IPAddress.Parse(expected), resolved);
    }

    [Fact]
    public void Resolve_SeveralHeaderLines_AreReadAsOneListInOrder()
    {
        var header = new StringValues(["6.6.6.6, 198.51.100.7", "10.0.0.2"]);
        Assert.Equal(IPAddress.Parse("198.51.100.7"), ClientIdentity.Resolve(IPAddress.Parse("10.0.0.1"), header, ForwardedHeaderKind.XForwardedFor, Trusted));
    }

    [Theory]
    [InlineData("for=198.51.100.7", "198.51.100.7")]
    [InlineData("for=6.6.6.6, for=198.51.100.7;proto=https;by=10.0.0.1", "198.51.100.7")]
    [InlineData("For=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17")]
    [InlineData("proto=https; for=\"198.51.100.7:1234\"", "198.51.100.7")]
    [InlineData("for=198.51.100.7, for=10.0.0.3", "198.51.100.7")]
    [InlineData("for=_hidden", "10.1.2.3")]
    [InlineData("for=unknown", "10.1.2.3")]
    [InlineData("proto=https", "10.1.2.3")]
    public void Resolve_Forwarded(string header, string expected)
    {
        var resolved = ClientIdentity.Resolve(IPAddress.Parse("10.1.2.3"), new StringValues(header), ForwardedHeaderKind.Forwarded, Trusted);
        Assert.Equal(IPAddress.Parse(expected), resolved);
    }

    [Fact]
    public void Resolve_NoTrustedProxies_IsAlwaysThePeer()
    {
        var resolved = ClientIdentity.Resolve(IPAddress.Parse("10.1.2.3"), new StringValues("198.51.100.7"), ForwardedHeaderKind.XForwardedFor, []);
        Assert.Equal(IPAddress.Parse("10.1.2.3"), resolved);
    }

    [Theory]
    [InlineData("10.0.0.0/8", true)]
    [InlineData("127.0.0.1", true)]
    [InlineData("fd00::/8", true)]
    [InlineData("::1", true)]
    [InlineData("10.0.0.0/33", false)]
    [InlineData("load-balancer", false)]
    public void TrustedNetworks_TryParse(string text, bool valid)
        => Assert.Equal(valid, TrustedNetworks.TryParse(text, out _));

    [Fact]
    public void TrustedNetworks_HostBitsSet_CoverTheWholeNetwork()
    {
        Assert.True(TrustedNetworks.TryParse("10.1.2.3/8", out var network));
        Assert.True(network.Contains(IPAddress.Parse("10.200.0.1")));
        Assert.False(network.Contains(IPAddress.Parse("11.0.0.1")));
    }
}
