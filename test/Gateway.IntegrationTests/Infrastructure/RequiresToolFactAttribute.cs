namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// A fact that needs external programs (promtool, helm...) or node packages (<c>node:kubernetes-models</c>).
/// Where one is missing the test is skipped with the reason, so the README's test command works on a machine with
/// only the .NET SDK; CI sets <c>GATEWAY_REQUIRE_TOOLS=1</c> (in .ci/run, which installs the tools) and the test
/// then runs and fails loudly instead of skipping.
/// </summary>
public sealed class RequiresToolFactAttribute : FactAttribute
{
    public RequiresToolFactAttribute(params string[] tools)
    {
        Skip = ExternalTool.SkipReason(tools);
    }
}

/// <summary>The same for a theory.</summary>
public sealed class RequiresToolTheoryAttribute : TheoryAttribute
{
    public RequiresToolTheoryAttribute(params string[] tools)
    {
        Skip = ExternalTool.SkipReason(tools);
    }
}

public static class ExternalTool
{
    private const string NodePrefix = "node:";

    public static bool Required => Environment.GetEnvironmentVariable("GATEWAY_REQUIRE_TOOLS") == "1";

    /// <summary>
    /// Where .ci/run installed the npm tools (<c>GATEWAY_NODE_MODULES</c>), else the default tools folder it
    /// uses; null when neither exists.
    /// </summary>
    public static string? NodeModules
    {
        get
        {
            var configured = Environment.GetEnvironmentVariable("GATEWAY_NODE_MODULES");
            var fallback = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "gateway-ci-tools", "npm", "node_modules");
            return new[] { configured, fallback }.FirstOrDefault(path => !string.IsNullOrEmpty(path) && Directory.Exists(path));
        }
    }

    /// <summary>Why a test needing <paramref name="tools"/> is skipped here, or null when it runs.</summary>
    public static string? SkipReason(string[] tools)
    {
        var missing = tools.Where(tool => !IsAvailable(tool)).ToArray();
        return missing.Length > 0 && !Required
            ? $"{string.Join(", ", missing)} not installed (CI installs them through .ci/run; set GATEWAY_REQUIRE_TOOLS=1 to fail instead of skipping)."
            : null;
    }

    public static bool IsAvailable(string tool)
        => tool.StartsWith(NodePrefix, StringComparison.Ordinal)
            ? Find("node") is not null && NodeModules is { } modules && Directory.Exists(Path.Combine(modules, tool[NodePrefix.Length..]))
            : Find(tool) is not null;

    /// <summary>The program on PATH, in the default tools folder of .ci/run (helm), or in /usr/sbin (where Debian
    /// puts haproxy, off a normal user's PATH); null when missing.</summary>
    public static string? Find(string tool)
        => (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "gateway-ci-tools", "bin"))
            .Append("/usr/sbin")
            .Select(directory => Path.Combine(directory, tool))
            .FirstOrDefault(File.Exists);
}
