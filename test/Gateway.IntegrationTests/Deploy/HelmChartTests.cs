using System.Text.Json.Nodes;
using Gateway.Hosting;
using Gateway.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gateway.IntegrationTests.Deploy;

/// <summary>
/// Issue 5, acceptance 3: the Helm chart (k8s/helm/gateway) lints strictly and renders, for the default values and
/// for a values file with every feature on, into manifests that pass the Kubernetes API schemas and yamllint; the
/// drain and the grace period agree; probes use the management port; prometheus-operator objects only on request;
/// and the configuration the chart renders is one the gateway itself accepts.
/// </summary>
public sealed class HelmChartTests
{
    private static readonly string Chart = Path.Combine(Paths.RepositoryRoot, "k8s", "helm", "gateway");
    private static readonly string AllFeatures = Path.Combine(Chart, "ci", "all-features-values.yaml");
    private static readonly string YamllintConfig = Path.Combine(Paths.RepositoryRoot, "k8s", ".yamllint.yaml");
    private static readonly string ManifestsScript = Path.Combine(Paths.RepositoryRoot, "test", "Gateway.IntegrationTests", "Deploy", "manifests.mjs");

    public static TheoryData<string> ValueSets => new() { "defaults", "all-features" };

    [MemberData(nameof(ValueSets))]
    [RequiresToolTheory("helm")]
    public async Task LintStrict_Passes(string values)
    {
        var (exitCode, output, error) = await HelmAsync(["lint", "--strict", Chart, .. ValuesArguments(values)]);
        Assert.True(exitCode == 0, $"helm lint --strict:\n{output}{error}");
        Assert.Contains("0 chart(s) failed", output, StringComparison.Ordinal);
    }

    [MemberData(nameof(ValueSets))]
    [RequiresToolTheory("helm", "yamllint", "node", "node:kubernetes-models", "node:@kubernetes-models/prometheus-operator", "node:yaml")]
    public async Task Template_PassesKubernetesSchemas_AndYamllint(string values)
    {
        var manifests = await TemplateAsync(ValuesArguments(values));

        var (lintExit, lintOutput, lintError) = await ExternalProcess.RunAsync(ExternalTool.Find("yamllint")!, ["-c", YamllintConfig, "-"], standardInput: manifests);
        Assert.True(lintExit == 0, $"yamllint:\n{lintOutput}{lintError}");

        var expected = values == "defaults"
            ? new[] { "ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "Service", "ServiceAccount" }
            : ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "Service", "Service", "ServiceAccount", "ServiceMonitor"];
        Assert.Equal(expected, (await ValidateAsync(manifests)).Order());
    }

    [MemberData(nameof(ValueSets))]
    [RequiresToolTheory("helm", "node", "node:yaml")]
    public async Task GracePeriod_CoversPreStop_DrainDelay_Window_AndCloseTimeout(string values)
    {
        var objects = await RenderAsync(ValuesArguments(values));
        var pod = Single(objects, "Deployment")["spec"]!["template"]!["spec"]!;
        var container = pod["containers"]![0]!;
        var env = container["env"]!.AsArray().ToDictionary(entry => (string)entry!["name"]!, entry => (string?)entry!["value"]);
        var preStop = (int?)container["lifecycle"]?["preStop"]?["sleep"]?["seconds"] ?? 0;
        var delay = TimeSpan.Parse(env["Gateway__Drain__Delay"]!, System.Globalization.CultureInfo.InvariantCulture);
        var window = TimeSpan.Parse(env["Gateway__Drain__Window"]!, System.Globalization.CultureInfo.InvariantCulture);
        var closeTimeout = TimeSpan.Parse(env["Gateway__Heartbeat__CloseTimeout"]!, System.Globalization.CultureInfo.InvariantCulture);
        var grace = (int)pod["terminationGracePeriodSeconds"]!;

        // The gateway's own shutdown timeout is delay + window + close timeout + 10 s (DrainOptions.ShutdownBudget).
        var shutdownBudget = new Gateway.Drain.DrainOptions { Delay = delay, Window = window }.ShutdownBudget(closeTimeout);
        Assert.True(grace >= preStop + shutdownBudget.TotalSeconds, $"grace {grace} s < preStop {preStop} s + shutdown budget {shutdownBudget.TotalSeconds} s");
        if (values == "defaults")
        {
            Assert.Equal((5 + 30 + 5 + 10, 0), (grace, preStop));
            Assert.Equal(new Gateway.Drain.DrainOptions().DestinationWindow, TimeSpan.Parse(env["Gateway__Drain__DestinationWindow"]!, System.Globalization.CultureInfo.InvariantCulture));
        }
        else
        {
            Assert.Equal((180, 5, TimeSpan.FromSeconds(15), TimeSpan.FromMinutes(2)), (grace, preStop, delay, window));
            Assert.Equal(TimeSpan.FromSeconds(25), TimeSpan.Parse(env["Gateway__Drain__DestinationWindow"]!, System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    [RequiresToolFact("helm")]
    public async Task GracePeriodShorterThanTheDrain_FailsTheInstall_SayingWhy()
    {
        var (exitCode, _, error) = await HelmAsync(["template", "gw", Chart, "--set", "drain.windowSeconds=60", "--set", "terminationGracePeriodSeconds=60"]);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("terminationGracePeriodSeconds (60) must be at least drain.preStopSleepSeconds + delaySeconds + windowSeconds + closeTimeoutSeconds + 10 = 80", error, StringComparison.Ordinal);
    }

    [RequiresToolFact("helm")]
    public async Task ConflictingValues_FailTheInstall_SayingWhich()
    {
        foreach (var (set, message) in new[]
        {
            ("gateway.Drain.Window=00:05:00", "gateway.Drain is set from drain.*"),
            ("gateway.Heartbeat.CloseTimeout=00:01:00", "gateway.Heartbeat.CloseTimeout is set from drain.closeTimeoutSeconds"),
            ("tls.enabled=true", "tls.secretName is required"),
        })
        {
            var (exitCode, _, error) = await HelmAsync(["template", "gw", Chart, "--set", set]);
            Assert.True(exitCode != 0 && error.Contains(message, StringComparison.Ordinal), $"--set {set}: exit {exitCode}, {error}");
        }

        var (minMaxExit, _, minMaxError) = await HelmAsync(["template", "gw", Chart, "--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=5", "--set", "autoscaling.maxReplicas=3"]);
        Assert.NotEqual(0, minMaxExit);
        Assert.Contains("autoscaling.minReplicas (5) is above autoscaling.maxReplicas (3)", minMaxError, StringComparison.Ordinal);
    }

    [RequiresToolFact("helm", "node", "node:yaml")]
    public async Task Probes_UseTheManagementPort_AndOnlyTheManagementServiceExposesIt()
    {
        var objects = await RenderAsync([]);
        var container = Single(objects, "Deployment")["spec"]!["template"]!["spec"]!["containers"]![0]!;
        var ports = container["ports"]!.AsArray().ToDictionary(port => (string)port!["name"]!, port => (int)port!["containerPort"]!);
        Assert.Equal(new Dictionary<string, int> { ["public"] = 8080, ["management"] = 8081 }, ports);
        foreach (var (probe, path) in new[] { ("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz") })
        {
            Assert.Equal("management", (string?)container[probe]!["httpGet"]!["port"]);
            Assert.Equal(path, (string?)container[probe]!["httpGet"]!["path"]);
        }

        var services = objects.Where(o => (string?)o["kind"] == "Service").ToDictionary(o => (string)o["metadata"]!["name"]!, o => o["spec"]!);
        Assert.Equal("public", (string?)services["gw-gateway"]["ports"]![0]!["targetPort"]);
        Assert.Equal("LoadBalancer", (string?)services["gw-gateway"]["type"]);
        Assert.Equal("management", (string?)services["gw-gateway-management"]["ports"]![0]!["targetPort"]);
        Assert.Equal("ClusterIP", (string?)services["gw-gateway-management"]["type"]);
    }

    [RequiresToolFact("helm", "node", "node:yaml")]
    public async Task ServiceMonitorAndPrometheusRule_RenderOnlyWhenEnabled()
    {
        static string[] Kinds(IEnumerable<JsonNode> objects) => objects.Select(o => (string)o["kind"]!).ToArray();

        Assert.DoesNotContain("ServiceMonitor", Kinds(await RenderAsync([])));
        Assert.DoesNotContain("PrometheusRule", Kinds(await RenderAsync([])));
        var monitor = await RenderAsync(["--set", "serviceMonitor.enabled=true"]);
        Assert.Contains("ServiceMonitor", Kinds(monitor));
        Assert.DoesNotContain("PrometheusRule", Kinds(monitor));
        var rules = await RenderAsync(["--set", "prometheusRule.enabled=true"]);
        Assert.Contains("PrometheusRule", Kinds(rules));
        Assert.DoesNotContain("ServiceMonitor", Kinds(rules));

        // The PrometheusRule carries the plain rules file's alerts, the drain threshold set from the drain values.
        var plain = await ToJsonAsync(await File.ReadAllTextAsync(Path.Combine(Chart, "files", "gateway-alerts.rules.yaml")));
        static IEnumerable<JsonNode> Alerts(JsonNode groups) => groups.AsArray().SelectMany(group => group!["rules"]!.AsArray()).Select(rule => rule!);
        var plainAlerts = Alerts(plain[0]["groups"]!).ToArray();
        var rendered = Alerts(Single(await RenderAsync(["--set", "prometheusRule.enabled=true", "--set", "drain.windowSeconds=100"]), "PrometheusRule")["spec"]!["groups"]!).ToArray();
        Assert.Equal(plainAlerts.Select(alert => (string?)alert["alert"]), rendered.Select(alert => (string?)alert["alert"]));
        Assert.True(plainAlerts.Length >= 8, $"{plainAlerts.Length} alerts");
        var drainExpr = (string)rendered.Single(alert => (string?)alert["alert"] == "GatewayDrainTooLong")["expr"]!;
        Assert.Contains("(gateway_drain_duration_seconds) > 105", drainExpr, StringComparison.Ordinal);
        Assert.Contains("(gateway_drain_duration_seconds) > 35", (string)plainAlerts.Single(alert => (string?)alert["alert"] == "GatewayDrainTooLong")["expr"]!, StringComparison.Ordinal);
        foreach (var (plainAlert, renderedAlert) in plainAlerts.Zip(rendered).Where(pair => (string?)pair.First["alert"] != "GatewayDrainTooLong"))
        {
            Assert.True(JsonNode.DeepEquals(plainAlert, renderedAlert), $"{plainAlert["alert"]} differs in the PrometheusRule");
        }

        // The ServiceMonitor finds the management Service, by its labels and port name.
        var selector = Single(monitor, "ServiceMonitor")["spec"]!["selector"]!["matchLabels"]!.AsObject();
        var management = monitor.Single(o => (string?)o["kind"] == "Service" && ((string)o["metadata"]!["name"]!).EndsWith("-management", StringComparison.Ordinal));
        Assert.All(selector, label => Assert.Equal((string?)label.Value, (string?)management["metadata"]!["labels"]![label.Key]));
        Assert.Equal("management", (string?)Single(monitor, "ServiceMonitor")["spec"]!["endpoints"]![0]!["port"]);
    }

    [RequiresToolFact("helm", "node", "node:yaml")]
    public async Task Defaults_RenderNoNetworkPolicy_AndNoManagementToken()
    {
        var objects = await RenderAsync([]);

        Assert.DoesNotContain("NetworkPolicy", objects.Select(o => (string?)o["kind"]));
        var pod = Single(objects, "Deployment")["spec"]!["template"]!["spec"]!;
        Assert.DoesNotContain("admin-token", pod["volumes"]!.AsArray().Select(volume => (string?)volume!["name"]));
        Assert.DoesNotContain("admin-token", pod["containers"]![0]!["volumeMounts"]!.AsArray().Select(mount => (string?)mount!["name"]));
        Assert.DoesNotContain("Gateway__Management__TokenFile", pod["containers"]![0]!["env"]!.AsArray().Select(entry => (string?)entry!["name"]));
    }

    [RequiresToolFact("helm", "node", "node:yaml")]
    public async Task ManagementTokenExistingSecret_MountsItReadOnly_AndPointsTokenFileAtIt()
    {
        var objects = await RenderAsync(["--set", "management.api.token.existingSecret=gw-admin"]);

        var pod = Single(objects, "Deployment")["spec"]!["template"]!["spec"]!;
        var secret = pod["volumes"]!.AsArray().Single(volume => (string?)volume!["name"] == "admin-token")!["secret"]!;
        Assert.Equal("gw-admin", (string?)secret["secretName"]);
        Assert.Equal(("token", "token"), ((string?)secret["items"]![0]!["key"], (string?)secret["items"]![0]!["path"]));
        // 0440: owner root, group the pod's fsGroup (the gateway runs in it); nothing for others.
        Assert.Equal(Convert.ToInt32("440", 8), (int)secret["defaultMode"]!);
        Assert.Equal(1654, (int)pod["securityContext"]!["fsGroup"]!);

        var container = pod["containers"]![0]!;
        var mount = container["volumeMounts"]!.AsArray().Single(m => (string?)m!["name"] == "admin-token")!;
        Assert.True((bool)mount["readOnly"]!);
        var tokenFile = (string?)container["env"]!.AsArray().Single(entry => (string?)entry!["name"] == "Gateway__Management__TokenFile")!["value"];
        Assert.Equal(Path.Combine((string)mount["mountPath"]!, "token"), tokenFile);

        var keyed = await RenderAsync(["--set", "management.api.token.existingSecret=gw-admin", "--set", "management.api.token.key=admin"]);
        var keyedSecret = Single(keyed, "Deployment")["spec"]!["template"]!["spec"]!["volumes"]!.AsArray().Single(volume => (string?)volume!["name"] == "admin-token")!["secret"]!;
        Assert.Equal("admin", (string?)keyedSecret["items"]![0]!["key"]);
    }

    [RequiresToolFact("helm", "node", "node:kubernetes-models", "node:yaml")]
    public async Task NetworkPolicyEnabled_AdmitsPublicFromAnyone_AndManagementOnlyFromItsPeers()
    {
        string[] enabled = ["--set", "networkPolicy.enabled=true"];
        string[] monitoring = ["--set", "networkPolicy.managementFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring"];
        var manifests = await TemplateAsync([.. enabled, .. monitoring]);

        Assert.Contains("NetworkPolicy", await ValidateAsync(manifests));
        var objects = await ToJsonAsync(manifests);
        var policy = Single(objects, "NetworkPolicy")["spec"]!;
        Assert.True(JsonNode.DeepEquals(Single(objects, "Deployment")["spec"]!["selector"]!["matchLabels"], policy["podSelector"]!["matchLabels"]));
        Assert.Equal(["Ingress"], policy["policyTypes"]!.AsArray().Select(type => (string?)type));
        var rules = policy["ingress"]!.AsArray().ToDictionary(rule => (string)rule!["ports"]!.AsArray().Single()!["port"]!, rule => rule!["from"]);
        Assert.Equal(["public", "management"], rules.Keys);
        Assert.Null(rules["public"]);
        Assert.Equal("monitoring", (string?)rules["management"]!.AsArray().Single()!["namespaceSelector"]!["matchLabels"]!["kubernetes.io/metadata.name"]);

        // No management peers: no rule for the port at all, since a rule without "from" would admit every source.
        var closed = Single(await RenderAsync(enabled), "NetworkPolicy")["spec"]!["ingress"]!.AsArray();
        Assert.Equal("public", (string?)closed.Single()!["ports"]![0]!["port"]);
    }

    [RequiresToolFact("helm")]
    public async Task Schema_RejectsUnknownAndMistypedValues()
    {
        var (unknownExit, _, unknownError) = await HelmAsync(["template", "gw", Chart, "--set", "replicas=3"]);
        Assert.NotEqual(0, unknownExit);
        Assert.Contains("Additional property replicas is not allowed", unknownError, StringComparison.Ordinal);

        var (typeExit, _, typeError) = await HelmAsync(["template", "gw", Chart, "--set", "service.externalTrafficPolicy=Nearest"]);
        Assert.NotEqual(0, typeExit);
        Assert.Contains("externalTrafficPolicy", typeError, StringComparison.Ordinal);
    }

    /// <summary>The ConfigMap and the environment the chart renders, given to the real gateway: it starts with them.</summary>
    [RequiresToolFact("helm", "node", "node:yaml")]
    public async Task RenderedConfiguration_IsAcceptedByTheGateway()
    {
        var objects = await RenderAsync(ValuesArguments("all-features"));
        var json = (string)Single(objects, "ConfigMap")["data"]!["gateway.json"]!;
        var env = Single(objects, "Deployment")["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!.AsArray()
            .Select(entry => ((string)entry!["name"]!, (string?)entry!["value"]))
            .Where(entry => entry.Item1.StartsWith("Gateway__", StringComparison.Ordinal) && !entry.Item1.Contains("__Tls__", StringComparison.Ordinal))
            .ToDictionary(entry => entry.Item1.Replace("__", ":", StringComparison.Ordinal), entry => entry.Item2);
        Assert.Contains("chat", JsonNode.Parse(json)!["ReverseProxy"]!["Routes"]!.AsObject().Select(route => route.Key));

        // The Secret's mount stands in as a file with a token of the kind docs/operations.md creates (openssl rand -hex 32).
        var tokenFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(tokenFile, Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n");
        Assert.Equal("/var/run/secrets/gateway-admin/token", env["Gateway:Management:TokenFile"]);
        env["Gateway:Management:TokenFile"] = tokenFile;

        var builder = GatewayHost.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)));
        builder.Configuration.AddInMemoryCollection(env);
        try
        {
            await using var app = GatewayHost.Build(builder);
            // Resolving the options runs their validation, which reads the token file and checks its length.
            Assert.Equal(tokenFile, app.Services.GetRequiredService<IOptions<Gateway.Management.ManagementOptions>>().Value.TokenFile);
        }
        finally
        {
            File.Delete(tokenFile);
        }
    }

    private static string[] ValuesArguments(string values) => values == "defaults" ? [] : ["-f", AllFeatures];

    private static Task<(int ExitCode, string Output, string Error)> HelmAsync(IEnumerable<string> arguments)
        => ExternalProcess.RunAsync(ExternalTool.Find("helm")!, arguments);

    private static async Task<string> TemplateAsync(IEnumerable<string> arguments)
    {
        var (exitCode, output, error) = await HelmAsync(["template", "gw", Chart, .. arguments]);
        Assert.True(exitCode == 0, $"helm template:\n{error}");
        return output;
    }

    /// <summary>Checks every object against the Kubernetes API schemas; returns the kinds checked.</summary>
    private static async Task<IEnumerable<string>> ValidateAsync(string manifests)
    {
        var (exitCode, output, error) = await ExternalProcess.RunAsync("node", [ManifestsScript, ExternalTool.NodeModules!, "validate"], standardInput: manifests);
        Assert.True(exitCode == 0, $"schema check:\n{output}{error}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split(' ')[1].Split('/')[0]);
    }

    private static async Task<List<JsonNode>> RenderAsync(IEnumerable<string> arguments) => await ToJsonAsync(await TemplateAsync(arguments));

    private static async Task<List<JsonNode>> ToJsonAsync(string manifests)
    {
        var (exitCode, output, error) = await ExternalProcess.RunAsync("node", [ManifestsScript, ExternalTool.NodeModules!, "json"], standardInput: manifests);
        Assert.True(exitCode == 0, $"YAML to JSON:\n{error}");
        return JsonNode.Parse(output)!.AsArray().Select(node => node!).ToList();
    }

    private static JsonNode Single(IEnumerable<JsonNode> objects, string kind) => objects.Single(o => (string?)o["kind"] == kind);
}
