using System.Text.Json;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Deploy;

/// <summary>
/// The repository's Dockerfile, checked statically: no Docker engine or base image is needed (or available in CI).
/// A linter catches what the builder would reject; the facts below hold the image to its conventions.
/// </summary>
public sealed class DockerfileTests
{
    private const string GcSection = "GC settings for the container image";

    private static readonly string DockerfilePath = Path.Combine(Paths.RepositoryRoot, "Dockerfile");

    [RequiresToolFact("node", "node:dockerfile-utils")]
    public async Task Dockerfile_PassesTheLinter_WithNoDiagnostics()
    {
        var script = Path.Combine(Paths.RepositoryRoot, "test", "Gateway.IntegrationTests", "Deploy", "lint-dockerfile.cjs");
        var (exitCode, output, error) = await ExternalProcess.RunAsync(
            ExternalTool.Find("node")!,
            [script],
            standardInput: await File.ReadAllTextAsync(DockerfilePath),
            timeout: TimeSpan.FromSeconds(60),
            environment: new Dictionary<string, string> { ["NODE_PATH"] = ExternalTool.NodeModules! });

        Assert.True(exitCode == 0 && output.Length == 0, $"dockerfile-utils (exit {exitCode}):\n{output}\n{error}");
    }

    [Fact]
    public void Build_IsMultiStage_SdkThenChiseledAspNetRuntime()
    {
        var stages = Dockerfile.Load(DockerfilePath).Stages;

        Assert.Equal(2, stages.Count);
        Assert.Equal("mcr.microsoft.com/dotnet/sdk:10.0 AS build", stages[0].From);
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:10.0", stages[1].From, StringComparison.Ordinal);
        Assert.Contains("chiseled", stages[1].From, StringComparison.Ordinal);
        // Only the publish output reaches the runtime image.
        Assert.Contains(stages[1].All("COPY"), copy => copy.StartsWith("--from=build /app", StringComparison.Ordinal));
    }

    [Fact]
    public void BuildStage_RestoresFromTheProjectFilesBeforeCopyingTheSources()
    {
        var build = Dockerfile.Load(DockerfilePath).Stages[0].Instructions;

        var restore = build.FindIndex(i => i.Keyword == "RUN" && i.Arguments.Contains("dotnet restore", StringComparison.Ordinal));
        var sources = build.FindIndex(i => i.Keyword == "COPY" && i.Arguments.StartsWith("src/Gateway/ ", StringComparison.Ordinal));
        var publish = build.FindIndex(i => i.Keyword == "RUN" && i.Arguments.Contains("dotnet publish", StringComparison.Ordinal));

        Assert.True(restore >= 0 && sources > restore && publish > sources, "restore, then copy the sources, then publish");
        Assert.Contains("--no-restore", build[publish].Arguments, StringComparison.Ordinal);
        Assert.Contains("-c Release", build[publish].Arguments, StringComparison.Ordinal);
        // The csproj's <PackageDownload> of Yarp.ReverseProxy needs the files restore reads, and nothing else.
        var beforeRestore = string.Join('\n', build.Take(restore).Where(i => i.Keyword == "COPY").Select(i => i.Arguments));
        foreach (var file in new[] { "global.json", "Directory.Build.props", "Directory.Packages.props", "src/Gateway/Gateway.csproj" })
        {
            Assert.Contains(file, beforeRestore, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void RuntimeStage_RunsAsTheImagesNonRootUser()
    {
        var runtime = Dockerfile.Load(DockerfilePath).Stages[^1];

        var user = runtime.All("USER").LastOrDefault();
        Assert.NotNull(user);
        Assert.Contains(user, new[] { "$APP_UID", "${APP_UID}" });
    }

    [Fact]
    public void RuntimeStage_ExposesTheListenersOfAppSettings()
    {
        var runtime = Dockerfile.Load(DockerfilePath).Stages[^1];
        using var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(Paths.RepositoryRoot, "src", "Gateway", "appsettings.json")));
        var server = settings.RootElement.GetProperty("Gateway").GetProperty("Server");
        var configured = new[] { "Public", "Management" }
            .Select(listener => server.GetProperty(listener).GetProperty("Port").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Order(StringComparer.Ordinal);

        var exposed = runtime.All("EXPOSE").SelectMany(e => e.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Order(StringComparer.Ordinal);

        Assert.Equal(["8080", "8081"], configured);
        Assert.Equal(configured, exposed);
        // The gateway binds those itself; the base image's ASPNETCORE_HTTP_PORTS=8080 is cleared so Kestrel does
        // not log "Overriding address(es)" at every start.
        Assert.Equal("", runtime.Environment()["ASPNETCORE_HTTP_PORTS"]);
        Assert.Equal("Production", runtime.Environment()["ASPNETCORE_ENVIRONMENT"]);
    }

    [Fact]
    public void Image_HasNoHealthcheck_AndAnExecFormEntrypoint()
    {
        var dockerfile = Dockerfile.Load(DockerfilePath);

        // Kubernetes probes /healthz and /readyz; a chiseled image has no shell to run a HEALTHCHECK anyway.
        Assert.DoesNotContain(dockerfile.Stages.SelectMany(s => s.Instructions), i => i.Keyword == "HEALTHCHECK");
        var entrypoint = Assert.Single(dockerfile.Stages[^1].All("ENTRYPOINT"));
        Assert.Equal(["dotnet", "Gateway.dll"], JsonSerializer.Deserialize<string[]>(entrypoint) ?? []);
        Assert.Empty(dockerfile.Stages[^1].All("CMD"));
    }

    [Fact]
    public void RuntimeStage_GcSettings_AreTheOnesTheBenchmarksRecommend()
    {
        var environment = Dockerfile.Load(DockerfilePath).Stages[^1].Environment();
        var benchmarks = File.ReadAllText(Path.Combine(Paths.RepositoryRoot, "docs", "benchmarks.md"));
        var start = benchmarks.IndexOf("## " + GcSection, StringComparison.Ordinal);
        Assert.True(start >= 0, $"docs/benchmarks.md has no section \"{GcSection}\".");
        var end = benchmarks.IndexOf("\n## ", start + 3, StringComparison.Ordinal);
        var section = end < 0 ? benchmarks[start..] : benchmarks[start..end];

        // The section's verdict reads "**... the image sets `DOTNET_gcServer=0` and ...**": those assignments, and
        // no others, are the image's GC settings.
        var verdictStart = section.IndexOf("the image sets ", StringComparison.OrdinalIgnoreCase);
        Assert.True(verdictStart >= 0, "The section does not say what the image sets.");
        var verdictEnd = section.IndexOf("**", verdictStart, StringComparison.Ordinal);
        var recommended = section[verdictStart..verdictEnd]
            .Split('`')
            .Where((_, index) => index % 2 == 1)
            .Select(assignment => assignment.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair[1], StringComparer.Ordinal);
        var configured = environment
            .Where(e => e.Key.StartsWith("DOTNET_gc", StringComparison.OrdinalIgnoreCase))
            .ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);

        Assert.Contains("DOTNET_gcServer", configured.Keys);
        Assert.Equal(recommended.OrderBy(e => e.Key, StringComparer.Ordinal), configured.OrderBy(e => e.Key, StringComparer.Ordinal));
        Assert.Contains("Dockerfile", section, StringComparison.Ordinal);
    }

    [Fact]
    public void DockerIgnore_KeepsHostBuildOutputsOutOfTheContext()
    {
        // A host's obj/project.assets.json copied into the image would point restore at the host's package folder.
        var ignored = File.ReadAllLines(Path.Combine(Paths.RepositoryRoot, ".dockerignore")).Select(line => line.Trim()).ToHashSet(StringComparer.Ordinal);

        Assert.Contains("**/bin/", ignored);
        Assert.Contains("**/obj/", ignored);
        Assert.Contains(".git/", ignored);
    }

    /// <summary>Just enough of the Dockerfile syntax for these checks: line continuations, comments, stages.</summary>
    private sealed record Dockerfile(List<Stage> Stages)
    {
        public static Dockerfile Load(string path)
        {
            var instructions = new List<Instruction>();
            var pending = "";
            foreach (var raw in File.ReadAllLines(path))
            {
                var line = raw.Trim();
                if (line.StartsWith('#') || (line.Length == 0 && pending.Length == 0))
                {
                    continue;
                }

                if (line.EndsWith('\\'))
                {
                    pending += line[..^1] + " ";
                    continue;
                }

                line = pending + line;
                pending = "";
                if (line.Trim().Length == 0)
                {
                    continue;
                }

                var space = line.IndexOf(' ', StringComparison.Ordinal);
                instructions.Add(space < 0
                    ? new Instruction(line.ToUpperInvariant(), "")
                    : new Instruction(line[..space].ToUpperInvariant(), line[(space + 1)..].Trim()));
            }

            var stages = new List<Stage>();
            foreach (var instruction in instructions)
            {
                if (instruction.Keyword == "FROM")
                {
                    stages.Add(new Stage(instruction.Arguments, []));
                }
                else
                {
                    Assert.True(stages.Count > 0 || instruction.Keyword == "ARG", $"{instruction.Keyword} before the first FROM");
                    stages.LastOrDefault()?.Instructions.Add(instruction);
                }
            }

            return new Dockerfile(stages);
        }
    }

    private sealed record Stage(string From, List<Instruction> Instructions)
    {
        public IEnumerable<string> All(string keyword) => Instructions.Where(i => i.Keyword == keyword).Select(i => i.Arguments);

        /// <summary>The stage's ENV, as <c>KEY=value</c> pairs (the only form this Dockerfile uses).</summary>
        public Dictionary<string, string> Environment()
        {
            var environment = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in All("ENV").SelectMany(e => e.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                Assert.True(equals > 0, $"ENV {pair}: use the KEY=value form");
                environment[pair[..equals]] = pair[(equals + 1)..].Trim('"');
            }

            return environment;
        }
    }

    private sealed record Instruction(string Keyword, string Arguments);
}
