using System.Globalization;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests;

/// <summary>
/// The test runner never calls this. <c>dotnet Gateway.IntegrationTests.dll echo-backend [--http2]</c> runs an
/// <see cref="EchoBackend"/> as a process of its own, for tests that must kill a backend the way a crash or an
/// OOM kill does (<see cref="BackendProcess"/>). It prints its port and runs until killed or stdin closes.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args is not ["echo-backend", .. var options])
        {
            await Console.Error.WriteLineAsync("usage: Gateway.IntegrationTests echo-backend [--http2]");
            return 2;
        }

        await using var backend = await EchoBackend.StartAsync(http2: options.Contains("--http2"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"echo-backend listening on port {backend.Port}"));
        // Ends when the parent closes stdin (or kills this process, which is the point).
        while (await Console.In.ReadLineAsync() is not null)
        {
        }
        return 0;
    }
}
