using Gateway.LoadTest;
using Gateway.LoadTest.Cli;

return await LoadTestCli.RunAsync(args, (options, cancellationToken) => LoadTestRunner.RunAsync(options, args, cancellationToken), Console.Error);
