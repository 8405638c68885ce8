using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>An <see cref="EchoBackend"/> in a process of its own (this test assembly's <see cref="Program"/>), so a test can kill it.</summary>
public sealed partial class BackendProcess : IAsyncDisposable
{
    private readonly Process _process;

    private BackendProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public string Address => $"http://127.0.0.1:{Port}";

    public static async Task<BackendProcess> StartAsync(bool http2 = false)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(typeof(BackendProcess).Assembly.Location);
        info.ArgumentList.Add("echo-backend");
        if (http2)
        {
            info.ArgumentList.Add("--http2");
        }

        var process = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (PortLine().Match(line) is { Success: true } match)
            {
                return new BackendProcess(process, int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
            }
        }

        process.Kill();
        throw new InvalidOperationException("The backend process exited before listening.");
    }

    /// <summary>SIGKILL, as a crash or the OOM killer: the kernel closes its sockets, nothing says goodbye.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await KillAsync();
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"listening on port (\d+)")]
    private static partial Regex PortLine();
}
