using System.CommandLine;
using System.Globalization;
using Gateway.LoadTest.Net;

namespace Gateway.LoadTest.Cli;

/// <summary>The command line: hold, echo and storm with their options; bad input ends with exit code 2 and
/// every error listed, before anything connects.</summary>
internal static class LoadTestCli
{
    public const int UsageError = 2;

    public static async Task<int> RunAsync(string[] args, Func<LoadTestOptions, CancellationToken, Task<int>> run, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var parseResult = Build(run).Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            foreach (var parseError in parseResult.Errors)
            {
                await error.WriteLineAsync("error: " + parseError.Message);
            }

            await error.WriteLineAsync("Run with --help for usage.");
            return UsageError;
        }

        return await parseResult.InvokeAsync();
    }

    public static RootCommand Build(Func<LoadTestOptions, CancellationToken, Task<int>> run)
    {
        var root = new RootCommand("Load generator for the WebSocket gateway: hold many sessions, echo messages at a fixed rate, or storm it with connections.");
        root.Subcommands.Add(Hold(run));
        root.Subcommands.Add(Echo(run));
        root.Subcommands.Add(Storm(run));
        return root;
    }

    private static Command Hold(Func<LoadTestOptions, CancellationToken, Task<int>> run)
    {
        var command = new Command("hold", "Open --sessions sessions at --ramp per second, hold them --hold seconds, close them with 1000.");
        var common = new CommonOptions(command, defaultDuration: null, "Upper bound on the whole run in seconds (default: ramp + hold + connect timeout + 30 s).");
        var sessions = Add(command, Sessions(PositiveInt("--sessions", 100, "Sessions to open.")));
        var ramp = Add(command, NonNegative("--ramp", 100, "Sessions started per second; 0 = as fast as --concurrency allows."));
        var hold = Add(command, NonNegative("--hold", 30, "Seconds to hold the sessions open once the ramp is done."));
        var keepalive = Add(command, NonNegative("--keepalive", 0, "Seconds between small keepalive text messages on every session; 0 = none."));
        var concurrency = Add(command, PositiveInt("--concurrency", 64, "Upgrades in flight at most."));
        var reconnect = new ReconnectOptions(command);
        command.SetAction((parseResult, cancellationToken) =>
        {
            var options = common.Bind(parseResult, LoadTestCommand.Hold) with
            {
                Sessions = parseResult.GetValue(sessions),
                Ramp = parseResult.GetValue(ramp),
                Hold = Seconds(parseResult.GetValue(hold)),
                Keepalive = Seconds(parseResult.GetValue(keepalive)),
                Concurrency = parseResult.GetValue(concurrency),
            };
            options = reconnect.Bind(parseResult, options);
            options = options with
            {
                Duration = options.Duration
                    ?? Seconds((options.Ramp > 0 ? options.Sessions / options.Ramp : 0) + options.Hold.TotalSeconds + options.ConnectTimeout.TotalSeconds + 30),
            };
            return run(options, cancellationToken);
        });
        return command;
    }

    private static Command Echo(Func<LoadTestOptions, CancellationToken, Task<int>> run)
    {
        var command = new Command("echo", "Open --sessions sessions and send --rate messages per second in all, spread evenly (open loop), for --duration seconds; measure each echo's round trip.");
        var common = new CommonOptions(command, defaultDuration: 10, "Seconds of sending.");
        var sessions = Add(command, Sessions(PositiveInt("--sessions", 10, "Sessions to open.")));
        var ramp = Add(command, NonNegative("--ramp", 0, "Sessions started per second; 0 = as fast as --concurrency allows."));
        var concurrency = Add(command, PositiveInt("--concurrency", 64, "Upgrades in flight at most."));
        var rate = Add(command, Positive("--rate", 1000, "Messages per second, all sessions together."));
        var size = Add(command, PositiveInt("--size", 64, "Message size in bytes (at least 8: the timestamp)."));
        size.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < MinimumSize or > MaximumSize)
            {
                result.AddError($"--size must be between {MinimumSize} and {MaximumSize} bytes.");
            }
        });
        var binary = Add(command, new Option<bool>("--binary") { Description = "Send binary messages (default: text)." });
        var reconnect = new ReconnectOptions(command);
        command.Validators.Add(result =>
        {
            if (result.GetValue(reconnect.Enabled) && result.GetValue(size) < Reconnect.MessageSequence.End)
            {
                result.AddError($"--reconnect numbers every message: --size must be at least {Reconnect.MessageSequence.End} bytes.");
            }
        });
        command.SetAction((parseResult, cancellationToken) => run(
            reconnect.Bind(parseResult, common.Bind(parseResult, LoadTestCommand.Echo) with
            {
                Sessions = parseResult.GetValue(sessions),
                Ramp = parseResult.GetValue(ramp),
                Concurrency = parseResult.GetValue(concurrency),
                Rate = parseResult.GetValue(rate),
                Size = parseResult.GetValue(size),
                Binary = parseResult.GetValue(binary),
            }),
            cancellationToken));
        return command;
    }

    private const int MinimumSize = 8;
    private const int MaximumSize = 16 * 1024 * 1024;

    private static Command Storm(Func<LoadTestOptions, CancellationToken, Task<int>> run)
    {
        var command = new Command("storm", "Open connections as fast as --concurrency allows, up to --attempts; count accepted, rejected by HTTP status and closed by code, with Retry-After statistics.");
        var common = new CommonOptions(command, defaultDuration: 300, "Upper bound on the whole run in seconds.");
        var attempts = Add(command, PositiveInt("--attempts", 1000, "Connection attempts in all."));
        var concurrency = Add(command, PositiveInt("--concurrency", 64, "Attempts in flight at most."));
        var linger = Add(command, NonNegative("--linger-ms", 250, "Milliseconds to watch an accepted session for an immediate close (1013) before closing it."));
        command.SetAction((parseResult, cancellationToken) => run(
            common.Bind(parseResult, LoadTestCommand.Storm) with
            {
                Attempts = parseResult.GetValue(attempts),
                Concurrency = parseResult.GetValue(concurrency),
                Linger = TimeSpan.FromMilliseconds(parseResult.GetValue(linger)),
            },
            cancellationToken));
        return command;
    }

    private static TimeSpan Seconds(double seconds) => TimeSpan.FromSeconds(seconds);

    private static T Add<T>(Command command, T option)
        where T : Option
    {
        command.Options.Add(option);
        return option;
    }

    /// <summary>A session is one WebSocket connection: <c>--connections</c> is the same option (the name other load tools use).</summary>
    private static Option<int> Sessions(Option<int> option)
    {
        option.Aliases.Add("--connections");
        return option;
    }

    private static Option<int> PositiveInt(string name, int defaultValue, string description)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
            {
                result.AddError($"{name} must be at least 1.");
            }
        });
        return option;
    }

    private static Option<double> Positive(string name, double defaultValue, string description)
    {
        var option = new Option<double>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (!(result.GetValueOrDefault<double>() > 0) || double.IsInfinity(result.GetValueOrDefault<double>()))
            {
                result.AddError($"{name} must be greater than 0.");
            }
        });
        return option;
    }

    private static Option<double> NonNegative(string name, double defaultValue, string description)
    {
        var option = new Option<double>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<double>();
            if (!(value >= 0) || double.IsInfinity(value))
            {
                result.AddError($"{name} must not be negative.");
            }
        });
        return option;
    }

    /// <summary><c>--reconnect</c> and its backoff, for hold and echo.</summary>
    private sealed class ReconnectOptions
    {
        private readonly Option<double> _base;
        private readonly Option<double> _cap;

        public ReconnectOptions(Command command)
        {
            Enabled = Add(command, new Option<bool>("--reconnect") { Description = "Reopen a session that ends (or an upgrade that fails) as a well-behaved client does: exponential backoff with full jitter, Retry-After and the 1013 hint honoured." });
            _base = Add(command, Positive("--reconnect-base", 0.5, "Seconds: the first backoff's upper bound; doubles with each failure."));
            _cap = Add(command, Positive("--reconnect-cap", 30, "Seconds: the backoff's largest upper bound (a server's hint may be longer)."));
            command.Validators.Add(result =>
            {
                if (result.GetValue(_cap) < result.GetValue(_base))
                {
                    result.AddError("--reconnect-cap must be at least --reconnect-base.");
                }
            });
        }

        public Option<bool> Enabled { get; }

        public LoadTestOptions Bind(ParseResult parseResult, LoadTestOptions options) => options with
        {
            Reconnect = parseResult.GetValue(Enabled),
            ReconnectBase = Seconds(parseResult.GetValue(_base)),
            ReconnectCap = Seconds(parseResult.GetValue(_cap)),
        };
    }

    /// <summary>The options every command has, added to one command.</summary>
    private sealed class CommonOptions
    {
        private readonly Option<string> _url;
        private readonly Option<bool> _http2;
        private readonly Option<bool> _insecure;
        private readonly Option<string?> _sourceIps;
        private readonly Option<int> _workers;
        private readonly Option<double?> _duration;
        private readonly Option<string?> _json;
        private readonly Option<int> _seed;
        private readonly Option<double> _connectTimeout;
        private readonly Option<int?> _workerIndex;
        private readonly Option<int> _workerCount;
        private readonly Option<string?> _resultFile;

        public CommonOptions(Command command, double? defaultDuration, string durationDescription)
        {
            _url = Add(command, new Option<string>("--url") { Description = "Gateway URL, ws:// or wss://, with the route's path.", Required = true });
            _url.Validators.Add(result =>
            {
                var text = result.GetValueOrDefault<string>();
                if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != "ws" && uri.Scheme != "wss"))
                {
                    result.AddError($"--url '{text}' must be an absolute ws:// or wss:// URL.");
                }
            });
            _http2 = Add(command, new Option<bool>("--http2") { Description = "WebSockets over HTTP/2 (extended CONNECT, RFC 8441); h2c for ws://." });
            _insecure = Add(command, new Option<bool>("--insecure") { Description = "With wss://, accept any server certificate." });
            _sourceIps = Add(command, new Option<string?>("--source-ips") { Description = "Local addresses to bind client sockets to, round-robin: ranges and lists, e.g. 127.0.0.2-127.0.0.60,127.0.1.1." });
            _sourceIps.Validators.Add(result =>
            {
                if (!SourceAddressList.TryParse(result.GetValueOrDefault<string?>(), out _, out var error))
                {
                    result.AddError(error);
                }
            });
            _workers = Add(command, PositiveInt("--workers", 1, "Child processes sharing the load (one process holds at most ~19,900 sockets)."));
            _workers.Validators.Add(result =>
            {
                if (result.GetValueOrDefault<int>() > MaxWorkers)
                {
                    result.AddError($"--workers must be at most {MaxWorkers}.");
                }
            });
            _duration = Add(command, new Option<double?>("--duration") { Description = durationDescription, DefaultValueFactory = _ => defaultDuration });
            _duration.Validators.Add(result =>
            {
                if (result.GetValueOrDefault<double?>() is { } value && (!(value > 0) || double.IsInfinity(value)))
                {
                    result.AddError("--duration must be greater than 0.");
                }
            });
            _json = Add(command, new Option<string?>("--json") { Description = "Also write the result as JSON to this file." });
            _seed = Add(command, new Option<int>("--seed") { Description = "Seed for payloads and the first source address.", DefaultValueFactory = _ => 1 });
            _connectTimeout = Add(command, Positive("--connect-timeout", 10, "Seconds an upgrade may take before it counts as a timeout."));
            _workerIndex = Add(command, new Option<int?>("--worker-index") { Hidden = true });
            _workerCount = Add(command, new Option<int>("--worker-count") { Hidden = true, DefaultValueFactory = _ => 1 });
            _resultFile = Add(command, new Option<string?>("--result-file") { Hidden = true });
            command.Validators.Add(result =>
            {
                var index = result.GetValue(_workerIndex);
                var count = result.GetValue(_workerCount);
                if (index is { } i && (count < 1 || i < 0 || i >= count || result.GetValue(_resultFile) is null))
                {
                    result.AddError("--worker-index needs 0 <= index < --worker-count and --result-file.");
                }
            });
        }

        private const int MaxWorkers = 64;

        public LoadTestOptions Bind(ParseResult parseResult, LoadTestCommand command)
        {
            var sourceIps = parseResult.GetValue(_sourceIps);
            var options = new LoadTestOptions
            {
                Command = command,
                Url = new Uri(parseResult.GetValue(_url)!),
                Http2 = parseResult.GetValue(_http2),
                Insecure = parseResult.GetValue(_insecure),
                SourceAddresses = sourceIps is null ? [] : SourceAddressList.Parse(sourceIps),
                Workers = parseResult.GetValue(_workers),
                Duration = parseResult.GetValue(_duration) is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
                JsonFile = parseResult.GetValue(_json),
                Seed = parseResult.GetValue(_seed),
                ConnectTimeout = TimeSpan.FromSeconds(parseResult.GetValue(_connectTimeout)),
            };
            return parseResult.GetValue(_workerIndex) is { } index
                ? options with { WorkerIndex = index, WorkerCount = parseResult.GetValue(_workerCount), ResultFile = parseResult.GetValue(_resultFile) }
                : options;
        }
    }

    internal static string Format(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
