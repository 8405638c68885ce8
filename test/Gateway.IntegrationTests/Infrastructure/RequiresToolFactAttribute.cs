namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>
/// A fact that needs an external program (promtool). Where the program is missing the test is skipped with
/// the reason, so the README's test command works on a machine with only the .NET SDK; CI sets
/// <c>GATEWAY_REQUIRE_TOOLS=1</c> (in .ci/run, which installs the tools) and the test then runs and fails
/// loudly instead of skipping.
/// </summary>
public sealed class RequiresToolFactAttribute : FactAttribute
{
    public RequiresToolFactAttribute(string tool)
    {
        if (ExternalTool.Find(tool) is null && !ExternalTool.Required)
        {
            Skip = $"{tool} is not installed (CI installs it through .ci/run; set GATEWAY_REQUIRE_TOOLS=1 to fail instead of skipping).";
        }
    }
}

public static class ExternalTool
{
    public static bool Required => Environment.GetEnvironmentVariable("GATEWAY_REQUIRE_TOOLS") == "1";

    public static string? Find(string tool)
        => (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, tool))
            .FirstOrDefault(File.Exists);
}
