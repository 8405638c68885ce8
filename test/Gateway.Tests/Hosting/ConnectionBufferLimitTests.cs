using Gateway.Hosting;

namespace Gateway.Tests.Hosting;

/// <summary>Gateway:Server:Limits:MaxConnectionBufferSize, the per-connection bound on what the gateway holds each way.</summary>
public sealed class ConnectionBufferLimitTests
{
    [Fact]
    public void Default_Is64KiB_AndHoldsAWholeRequestHead()
    {
        var options = new ServerOptions();
        Assert.Equal(64 * 1024, options.Limits.MaxConnectionBufferSize);
        Assert.True(new ServerOptionsValidator().Validate(null, options).Succeeded);
        Assert.True(new ServerOptionsRules().Validate(null, options).Succeeded);
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(32 * 1024 * 1024)]
    public void OutsideItsRange_FailsNamingIt(int size)
    {
        var options = new ServerOptions();
        options.Limits.MaxConnectionBufferSize = size;
        var result = new ServerOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains(nameof(ServerLimitsOptions.MaxConnectionBufferSize), result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void SmallerThanARequestHead_Fails_SayingWhatItMustHold()
    {
        var options = new ServerOptions();
        options.Limits.MaxConnectionBufferSize = 32 * 1024;
        options.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
        var result = new ServerOptionsRules().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains("MaxConnectionBufferSize (32768) must hold a whole request head", result.FailureMessage, StringComparison.Ordinal);
    }
}
