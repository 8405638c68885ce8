using BenchmarkDotNet.Running;
using Gateway.Benchmarks;

// `heartbeat-scale`, `scrape-scale` and `admin-scale` are plain programs (a million sessions do not fit BenchmarkDotNet's
// repeated invocations; a timed run against a live gateway is not a method call); every other argument list goes to
// BenchmarkDotNet.
if (args.Length > 0 && args[0] == "heartbeat-scale")
{
    return HeartbeatScale.Run(args[1..]);
}

if (args.Length > 0 && args[0] == "scrape-scale")
{
    return ScrapeScale.Run(args[1..]);
}

if (args.Length > 0 && args[0] == "admin-scale")
{
    return AdminScale.Run(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(AdmissionBenchmarks).Assembly).Run(args);
return 0;
