using Gateway.LoadTest.Cli;

namespace Gateway.Tests.LoadTest;

public sealed class LoadTestCliTests
{
    [Theory]
    [InlineData("--url http://127.0.0.1:1/x", "must be an absolute ws:// or wss:// URL")]
    [InlineData("--url not-a-url", "must be an absolute ws:// or wss:// URL")]
    [InlineData("--url ws://127.0.0.1:1/x --sessions -5", "--sessions must be at least 1")]
    [InlineData("--url ws://127.0.0.1:1/x --sessions 0", "--sessions must be at least 1")]
    [InlineData("--url ws://127.0.0.1:1/x --rate -1", "--rate must be greater than 0")]
    [InlineData("--url ws://127.0.0.1:1/x --duration -3", "--duration must be greater than 0")]
    [InlineData("--url ws://127.0.0.1:1/x --size 4", "--size must be between 8")]
    [InlineData("--url ws://127.0.0.1:1/x --workers 0", "--workers must be at least 1")]
    [InlineData("--url ws://127.0.0.1:1/x --source-ips 127.0.0.9-127.0.0.1", "ends before it starts")]
    [InlineData("--sessions 3", "--url")]
    public async Task Echo_BadArguments_ExitCode2_WithAMessage_AndNothingRuns(string arguments, string expected)
    {
        var (exitCode, error, ran) = await RunAsync(["echo", .. arguments.Split(' ')]);
        Assert.Equal(2, exitCode);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.Null(ran);
    }

    [Theory]
    [InlineData("hold --url ws://h/x --ramp -1", "--ramp must not be negative")]
    [InlineData("hold --url ws://h/x --keepalive -1", "--keepalive must not be negative")]
    [InlineData("storm --url ws://h/x --attempts -1", "--attempts must be at least 1")]
    [InlineData("storm --url ws://h/x --concurrency 0", "--concurrency must be at least 1")]
    [InlineData("storm --url ws://h/x --linger-ms -10", "--linger-ms must not be negative")]
    [InlineData("storm --url ftp://h/x", "ws:// or wss://")]
    [InlineData("hold --url ws://h/x --reconnect --reconnect-base 2 --reconnect-cap 1", "--reconnect-cap must be at least --reconnect-base")]
    [InlineData("hold --url ws://h/x --reconnect --reconnect-base 0", "--reconnect-base must be greater than 0")]
    [InlineData("echo --url ws://h/x --reconnect --size 16", "--size must be at least 24 bytes")]
    public async Task OtherCommands_BadArguments_ExitCode2(string arguments, string expected)
    {
        var (exitCode, error, _) = await RunAsync(arguments.Split(' '));
        Assert.Equal(2, exitCode);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hold_Reconnect_BindsItsBackoff()
    {
        var (exitCode, _, options) = await RunAsync(["hold", "--url", "ws://h/x", "--reconnect", "--reconnect-base", "0.25", "--reconnect-cap", "8"]);
        Assert.Equal(0, exitCode);
        Assert.Equal((true, TimeSpan.FromSeconds(0.25), TimeSpan.FromSeconds(8)), (options!.Reconnect, options.ReconnectBase, options.ReconnectCap));

        (_, _, options) = await RunAsync(["hold", "--url", "ws://h/x"]);
        Assert.Equal((false, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(30)), (options!.Reconnect, options.ReconnectBase, options.ReconnectCap));
    }

    [Fact]
    public async Task Echo_GoodArguments_BindEveryOption()
    {
        var (exitCode, _, options) = await RunAsync(
            ["echo", "--url", "wss://127.0.0.1:8443/echo", "--sessions", "20", "--rate", "200", "--size", "128", "--binary", "--duration", "3",
             "--workers", "2", "--source-ips", "127.0.0.2-127.0.0.3", "--http2", "--insecure", "--json", "out.json", "--seed", "9"]);
        Assert.Equal(0, exitCode);
        Assert.NotNull(options);
        Assert.Equal(LoadTestCommand.Echo, options.Command);
        Assert.Equal(new Uri("wss://127.0.0.1:8443/echo"), options.Url);
        Assert.Equal((20, 200.0, 128, true), (options.Sessions, options.Rate, options.Size, options.Binary));
        Assert.Equal(TimeSpan.FromSeconds(3), options.Duration);
        Assert.Equal((2, true, true, "out.json", 9), (options.Workers, options.Http2, options.Insecure, options.JsonFile, options.Seed));
        Assert.Equal(2, options.SourceAddresses.Count);
        Assert.False(options.IsWorker);

        var share = options.ShareFor(1, 2);
        Assert.Equal((10, 100.0), (share.Sessions, share.Rate));
        Assert.Equal(["127.0.0.3"], share.SourceAddresses.Select(a => a.ToString()));
    }

    [Theory]
    [InlineData("echo --url ws://127.0.0.1:8080/echo --connections 1000 --rate 2000 --duration 20", 1000)]
    [InlineData("hold --url ws://127.0.0.1:8080/echo --connections 40 --hold 1", 40)]
    public async Task Connections_IsAnotherNameForSessions(string arguments, int sessions)
    {
        // The first is the acceptance command, word for word.
        var (exitCode, error, options) = await RunAsync(arguments.Split(' '));
        Assert.True(exitCode == 0, error);
        Assert.Equal(sessions, options!.Sessions);
    }

    [Fact]
    public async Task Hold_Defaults_BoundTheRun()
    {
        var (exitCode, _, options) = await RunAsync(["hold", "--url", "ws://h/x", "--sessions", "50", "--ramp", "10", "--hold", "5"]);
        Assert.Equal(0, exitCode);
        // ramp 5 s + hold 5 s + connect timeout 10 s + 30 s.
        Assert.Equal(TimeSpan.FromSeconds(50), options!.Duration);
    }

    [Fact]
    public async Task Storm_WorkerArguments_AreHiddenButAccepted()
    {
        var (exitCode, _, options) = await RunAsync(["storm", "--url", "ws://h/x", "--attempts", "7", "--worker-index", "1", "--worker-count", "2", "--result-file", "/tmp/r.json"]);
        Assert.Equal(0, exitCode);
        Assert.True(options!.IsWorker);
        Assert.Equal(3, options.ShareFor(1, 2).Attempts);
        Assert.Equal(4, options.ShareFor(0, 2).Attempts);
        Assert.DoesNotContain("--worker-index", LoadTestCli.Build((_, _) => Task.FromResult(0)).Subcommands.Single(c => c.Name == "storm").Options.Where(o => !o.Hidden).Select(o => o.Name));
    }

    [Fact]
    public async Task WorkerIndex_WithoutAResultFile_IsAUsageError()
    {
        var (exitCode, error, _) = await RunAsync(["storm", "--url", "ws://h/x", "--worker-index", "3", "--worker-count", "2"]);
        Assert.Equal(2, exitCode);
        Assert.Contains("--worker-index", error, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Error, LoadTestOptions? Options)> RunAsync(string[] args)
    {
        LoadTestOptions? ran = null;
        using var error = new StringWriter();
        var exitCode = await LoadTestCli.RunAsync(args, (options, _) =>
        {
            ran = options;
            return Task.FromResult(0);
        }, error);
        return (exitCode, error.ToString(), ran);
    }
}
