using Gateway.Management;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Management;

/// <summary>
/// <see cref="ManagementToken"/> and <see cref="ManagementOptionsRules"/>: the bearer token from a file, compared in
/// constant time, re-read on every call (a rotated Secret counts at once); no file configured means every call is
/// refused; a missing, empty or short token file stops the gateway at start.
/// </summary>
public sealed class ManagementTokenTests : IDisposable
{
    private const string Token = "0123456789abcdef0123456789abcdef";
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"gateway-token-{Guid.NewGuid():N}");

    public ManagementTokenTests() => File.WriteAllText(_file, $"  {Token}\n");

    public void Dispose() => File.Delete(_file);

    [Theory]
    [InlineData("Bearer " + Token, null)]
    [InlineData("bearer " + Token, null)]
    [InlineData("Bearer " + Token + "x", "wrong")]
    [InlineData("Bearer " + "0123456789abcdef", "wrong")]
    [InlineData("Basic " + Token, "no bearer token")]
    [InlineData("", "no bearer token")]
    public void Check_TheAuthorizationHeader_OnlyTheExactTokenPasses(string header, string? problem)
    {
        var token = new ManagementToken(Options.Create(new ManagementOptions { TokenFile = _file }));

        var result = token.Check(Call(header));

        if (problem is null)
        {
            Assert.Null(result);
        }
        else
        {
            Assert.Contains(problem, result, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Check_NoTokenFileConfigured_EveryCallRefused()
    {
        var token = new ManagementToken(Options.Create(new ManagementOptions()));

        Assert.False(token.Configured);
        Assert.Contains("no management token is configured", token.Check(Call("Bearer " + Token)), StringComparison.Ordinal);
    }

    [Fact]
    public void Check_TheFileRotated_TheNewTokenCountsAtOnce()
    {
        var token = new ManagementToken(Options.Create(new ManagementOptions { TokenFile = _file }));
        Assert.Null(token.Check(Call("Bearer " + Token)));

        File.WriteAllText(_file, "fedcba9876543210fedcba9876543210");

        Assert.NotNull(token.Check(Call("Bearer " + Token)));
        Assert.Null(token.Check(Call("Bearer fedcba9876543210fedcba9876543210")));
    }

    [Fact]
    public void Rules_MissingEmptyOrShortTokenFile_AndPageSizes_AreStartupErrors()
    {
        var rules = new ManagementOptionsRules();
        var empty = _file + ".empty";
        var shortFile = _file + ".short";
        File.WriteAllText(empty, "\n");
        File.WriteAllText(shortFile, "secret");
        try
        {
            Assert.True(rules.Validate(null, new ManagementOptions()).Succeeded);
            Assert.True(rules.Validate(null, new ManagementOptions { TokenFile = _file }).Succeeded);
            Assert.Contains("cannot be read", Failure(rules, new ManagementOptions { TokenFile = _file + ".missing" }), StringComparison.Ordinal);
            Assert.Contains("is empty", Failure(rules, new ManagementOptions { TokenFile = empty }), StringComparison.Ordinal);
            Assert.Contains("at least 32", Failure(rules, new ManagementOptions { TokenFile = shortFile }), StringComparison.Ordinal);
            Assert.Contains("DefaultPageSize", Failure(rules, new ManagementOptions { DefaultPageSize = 500, MaxPageSize = 100 }), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(empty);
            File.Delete(shortFile);
        }
    }

    private static string Failure(ManagementOptionsRules rules, ManagementOptions options) => rules.Validate(null, options).FailureMessage ?? "";

    private static DefaultHttpContext Call(string authorization)
    {
        var context = new DefaultHttpContext();
        if (authorization.Length > 0)
        {
            context.Request.Headers.Authorization = authorization;
        }

        return context;
    }
}
