using System.Net;
using Gateway.LoadTest.Net;

namespace Gateway.Tests.LoadTest;

public sealed class SourceAddressListTests
{
    [Fact]
    public void Parse_Range_IsInclusive()
    {
        var addresses = SourceAddressList.Parse("127.0.0.2-127.0.0.60");
        Assert.Equal(59, addresses.Count);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), addresses[0]);
        Assert.Equal(IPAddress.Parse("127.0.0.60"), addresses[^1]);
    }

    [Fact]
    public void Parse_RangeAcrossAnOctet_Carries()
    {
        var addresses = SourceAddressList.Parse("10.0.0.254-10.0.1.1");
        Assert.Equal(["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"], addresses.Select(a => a.ToString()));
    }

    [Fact]
    public void Parse_ListOfAddressesAndRanges_KeepsTheOrder()
    {
        var addresses = SourceAddressList.Parse("127.0.0.9, 127.0.0.2-127.0.0.3,::1");
        Assert.Equal(["127.0.0.9", "127.0.0.2", "127.0.0.3", "::1"], addresses.Select(a => a.ToString()));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("127.0.0.1,,127.0.0.2", "empty item")]
    [InlineData("127.0.0.300", "not an IP address")]
    [InlineData("localhost", "not an IP address")]
    [InlineData("127.0.0.5-127.0.0.2", "ends before it starts")]
    [InlineData("127.0.0.1-::1", "two IPv4 addresses")]
    [InlineData("127.0.0.1-", "two IPv4 addresses")]
    [InlineData("10.0.0.0-10.2.0.0", "more than 65536")]
    public void TryParse_BadInput_SaysWhat(string text, string expected)
    {
        Assert.False(SourceAddressList.TryParse(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => SourceAddressList.Parse(text));
    }

    [Fact]
    public void ShareOf_SplitsAddressesBetweenWorkers()
    {
        var addresses = SourceAddressList.Parse("127.0.0.2-127.0.0.6");
        Assert.Equal(["127.0.0.2", "127.0.0.4", "127.0.0.6"], SourceAddressList.ShareOf(addresses, 0, 2).Select(a => a.ToString()));
        Assert.Equal(["127.0.0.3", "127.0.0.5"], SourceAddressList.ShareOf(addresses, 1, 2).Select(a => a.ToString()));
        // Fewer addresses than workers: one each, shared.
        Assert.Equal(["127.0.0.3"], SourceAddressList.ShareOf(addresses, 6, 8).Select(a => a.ToString()));
    }
}
