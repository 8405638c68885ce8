using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Gateway.Benchmarks.AdmissionBenchmarks).Assembly).Run(args);
