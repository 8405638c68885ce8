using System.Reflection;

namespace Gateway.IntegrationTests.Infrastructure;

public static class Paths
{
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The gateway built by the same <c>dotnet test</c> run, in the same configuration.</summary>
    public static string GatewayDll
    {
        get
        {
            var configuration = typeof(Paths).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
            var path = Path.Combine(RepositoryRoot, "src", "Gateway", "bin", configuration, "net10.0", "Gateway.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first.", path);
        }
    }

    /// <summary>The load generator built by the same run (the test project references it without its assembly).</summary>
    public static string LoadTestDll
    {
        get
        {
            var configuration = typeof(Paths).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
            var path = Path.Combine(RepositoryRoot, "src", "Gateway.LoadTest", "bin", configuration, "net10.0", "Gateway.LoadTest.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first.", path);
        }
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Gateway.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Gateway.sln not found above " + AppContext.BaseDirectory);
    }
}
