using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Gateway.IntegrationTests.Infrastructure;

namespace Gateway.IntegrationTests.Telemetry;

/// <summary>
/// A real Prometheus server (the Debian package's <c>/usr/bin/prometheus</c>) scraping one target every second,
/// with its storage in a temporary folder; killed by its PID and the folder deleted on dispose. A real server,
/// not a PromQL parser: only it shows whether a dashboard query finds the series a live gateway exports.
/// </summary>
internal sealed class PrometheusServer : IAsyncDisposable
{
    private readonly ExternalProcess _process;
    private readonly string _directory;
    private readonly HttpClient _http;

    private PrometheusServer(ExternalProcess process, string directory, Uri address)
    {
        _process = process;
        _directory = directory;
        Address = address;
        _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri Address { get; }

    public string Output => _process.StandardError;

    /// <summary>Starts Prometheus scraping <paramref name="target"/>'s <c>/metrics</c> every second as job <c>gateway</c>; returns once it is ready.</summary>
    public static async Task<PrometheusServer> StartAsync(IPEndPoint target)
    {
        var directory = Directory.CreateTempSubdirectory("gateway-prometheus-").FullName;
        var config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: gateway
                static_configs:
                  - targets: ['{target.Address}:{target.Port}']
            """);

        // Prometheus cannot report a port it chose itself, so take a free one; if another process grabs it first
        // the server exits at once and the next attempt takes another.
        Exception? last = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var port = LoopbackPorts.Free();
            var address = new Uri($"http://127.0.0.1:{port}/");
            var process = ExternalProcess.Start(
                ExternalTool.Find("prometheus") ?? "prometheus",
                [
                    "--config.file=" + config,
                    "--storage.tsdb.path=" + Path.Combine(directory, "data"),
                    "--web.listen-address=127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture),
                    "--log.level=warn",
                ],
                workingDirectory: directory);
            var server = new PrometheusServer(process, directory, address);
            try
            {
                await server.WaitUntilReadyAsync(TimeSpan.FromSeconds(30));
                return server;
            }
            catch (Exception exception) when (exception is TimeoutException or InvalidOperationException)
            {
                last = exception;
                await server.StopAsync();
            }
        }

        Directory.Delete(directory, recursive: true);
        throw new InvalidOperationException("Prometheus did not start.", last);
    }

    /// <summary>An instant query at the current time; the parsed response (<c>status</c>, <c>data</c> or <c>error</c>).</summary>
    public async Task<JsonObject> QueryAsync(string promql)
    {
        using var content = new FormUrlEncodedContent([new("query", promql)]);
        using var response = await _http.PostAsync(new Uri("api/v1/query", UriKind.Relative), content);
        // 400 and 422 carry the parse or evaluation error in the same JSON shape.
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    /// <summary>What Grafana's <c>label_values(selector, label)</c> asks: the label's values on the matching series.</summary>
    public async Task<IReadOnlyList<string>> LabelValuesAsync(string label, string selector)
    {
        var path = $"api/v1/label/{Uri.EscapeDataString(label)}/values?match[]={Uri.EscapeDataString(selector)}";
        var body = JsonNode.Parse(await _http.GetStringAsync(new Uri(path, UriKind.Relative)))!;
        if ((string?)body["status"] != "success")
        {
            throw new InvalidOperationException($"label values of {label} for {selector}: {body.ToJsonString()}");
        }

        return body["data"]!.AsArray().Select(value => (string)value!).ToArray();
    }

    /// <summary>The scrape target's health as Prometheus sees it (<c>up</c>, <c>down</c>, <c>unknown</c>) and its last error.</summary>
    public async Task<string> TargetsAsync() => await _http.GetStringAsync(new Uri("api/v1/targets", UriKind.Relative));

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // The TSDB may still be closing files; the temporary folder is the OS's to clean then.
        }
    }

    private async Task StopAsync()
    {
        _http.Dispose();
        await _process.DisposeAsync();
    }

    private async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Prometheus exited with {_process.ExitCode}:\n{_process.StandardError}");
            }

            try
            {
                using var response = await _http.GetAsync(new Uri("-/ready", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"Prometheus not ready after {timeout.TotalSeconds} s:\n{_process.StandardError}");
    }
}
