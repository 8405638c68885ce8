using Gateway.Admission;

namespace Gateway.Tests.Admission;

public sealed class RouteAdmissionPolicyTests
{
    [Theory]
    [InlineData("https://app.example.com", true)]
    [InlineData("HTTPS://APP.EXAMPLE.COM", true)]
    [InlineData("https://app.example.com:8443", true)]
    [InlineData("http://app.example.com", false)]
    [InlineData("https://app.example.com.evil.com", false)]
    [InlineData("https://evil.com", false)]
    [InlineData("https://chat.example.org", true)]
    [InlineData("https://a.b.example.org", true)]
    [InlineData("https://example.org", false)]
    [InlineData("https://evilexample.org", false)]
    [InlineData("http://chat.example.org", false)]
    [InlineData("null", false)]
    [InlineData("", false)]
    public void IsAllowed(string origin, bool allowed)
    {
        var list = OriginAllowList.Parse("https://app.example.com, https://app.example.com:8443, https://*.example.org", out var errors);
        Assert.Empty(errors);
        Assert.Equal(allowed, list.IsAllowed(origin));
    }

    [Fact]
    public void IsAllowed_Star_AllowsEverything()
    {
        var list = OriginAllowList.Parse("*", out var errors);
        Assert.Empty(errors);
        Assert.True(list.IsAllowed("https://anything.test"));
    }

    [Theory]
    [InlineData("app.example.com")]
    [InlineData("https://app.example.com/")]
    [InlineData("https://app.example.com/path")]
    [InlineData("https://*")]
    [InlineData("https://*.*.example.com")]
    [InlineData("https://app.*.com")]
    [InlineData(" , ")]
    public void Parse_BadOrigins_AreReported(string text)
    {
        OriginAllowList.Parse(text, out var errors);
        Assert.NotEmpty(errors);
    }

    [Fact]
    public void Parse_Metadata_ReadsFlagsAndReportsEveryProblem()
    {
        var good = RouteAdmissionPolicy.Parse(new Dictionary<string, string>
        {
            [RouteAdmissionPolicy.PriorityMetadata] = "true",
            [RouteAdmissionPolicy.BrowserFacingMetadata] = "True",
            [RouteAdmissionPolicy.AllowedOriginsMetadata] = "https://app.example.com",
        }, out var none);
        Assert.Empty(none);
        Assert.True(good.Priority);
        Assert.True(good.BrowserFacing);
        Assert.NotNull(good.Origins);

        RouteAdmissionPolicy.Parse(new Dictionary<string, string>
        {
            [RouteAdmissionPolicy.PriorityMetadata] = "yes",
            [RouteAdmissionPolicy.BrowserFacingMetadata] = "1",
            [RouteAdmissionPolicy.AllowedOriginsMetadata] = "example.com",
        }, out var errors);
        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains(RouteAdmissionPolicy.PriorityMetadata, StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains(RouteAdmissionPolicy.BrowserFacingMetadata, StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains(RouteAdmissionPolicy.AllowedOriginsMetadata, StringComparison.Ordinal));
    }

    [Fact]
    public void For_SameRouteObject_ParsesOnce()
    {
        var route = new Yarp.ReverseProxy.Configuration.RouteConfig
        {
            RouteId = "r",
            Metadata = new Dictionary<string, string> { [RouteAdmissionPolicy.PriorityMetadata] = "true" },
        };
        Assert.Same(RouteAdmissionPolicy.For(route), RouteAdmissionPolicy.For(route));
        Assert.True(RouteAdmissionPolicy.For(route).Priority);
        Assert.False(RouteAdmissionPolicy.For(route with { Metadata = null }).Priority);
    }
}
