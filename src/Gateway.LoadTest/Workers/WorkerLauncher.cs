using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Gateway.LoadTest.Cli;
using Gateway.LoadTest.Reporting;

namespace Gateway.LoadTest.Workers;

/// <summary>
/// Runs the load in K child processes of this same executable (one process can hold at most ~19,900 sockets
/// under a 20,000 open-file limit): each gets the parent's arguments plus the hidden
/// <c>--worker-index i --worker-count K --result-file FILE</c>, does its share, reports progress lines on stdout
/// and writes its result to the file; the parent merges the results.
/// </summary>
internal sealed class WorkerLauncher
{
    private readonly ConcurrentDictionary<int, ProgressSnapshot> _progress = new();
    private readonly ConcurrentQueue<string> _errors = new();

    public ProgressSnapshot Snapshot() => ProgressSnapshot.Sum(_progress.Values);

    public IEnumerable<string> Errors => _errors;

    public async Task<(LoadTestResult? Result, int FailedWorkers)> RunAsync(LoadTestOptions options, IReadOnlyList<string> args, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var directory = Directory.CreateTempSubdirectory("gateway-loadtest-");
        var processes = new List<Process>();
        try
        {
            var runs = new List<Task<LoadTestResult?>>();
            for (var i = 0; i < options.Workers; i++)
            {
                var resultFile = Path.Combine(directory.FullName, $"worker-{i}.json");
                var process = Start(args, i, options.Workers, resultFile);
                processes.Add(process);
                runs.Add(WaitAsync(process, i, resultFile, timeout, cancellationToken));
            }

            var results = await Task.WhenAll(runs);
            var completed = results.OfType<LoadTestResult>().ToList();
            return (completed.Count == 0 ? null : LoadTestResult.Merge(completed), results.Length - completed.Count);
        }
        finally
        {
            foreach (var process in processes)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                process.Dispose();
            }

            directory.Delete(recursive: true);
        }
    }

    private Process Start(IReadOnlyList<string> args, int index, int count, string resultFile)
    {
        var processPath = Environment.ProcessPath ?? throw new InvalidOperationException("No process path to start workers from.");
        var info = new ProcessStartInfo(processPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Started as `dotnet Gateway.LoadTest.dll`: the workers must be too.
        if (Path.GetFileNameWithoutExtension(processPath).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            info.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        }

        foreach (var argument in args)
        {
            info.ArgumentList.Add(argument);
        }

        info.ArgumentList.Add("--worker-index");
        info.ArgumentList.Add(index.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--worker-count");
        info.ArgumentList.Add(count.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--result-file");
        info.ArgumentList.Add(resultFile);
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) =>
        {
            if (ProgressSnapshot.TryParseWorkerLine(e.Data, out var snapshot))
            {
                _progress[index] = snapshot;
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (!string.IsNullOrWhiteSpace(e.Data))
            {
                _errors.Enqueue($"worker {index}: {e.Data}");
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task<LoadTestResult?> WaitAsync(Process process, int index, string resultFile, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            _errors.Enqueue($"worker {index}: stopped after {timeout.TotalSeconds:0} s.");
            process.Kill(entireProcessTree: true);
            return null;
        }

        if (process.ExitCode != 0 || !File.Exists(resultFile))
        {
            _errors.Enqueue($"worker {index}: exit code {process.ExitCode}, no result.");
            return null;
        }

        return LoadTestResult.FromJson(await File.ReadAllTextAsync(resultFile, CancellationToken.None));
    }
}
