using Gateway.Heartbeat;
using Microsoft.Extensions.Options;

namespace Gateway.Drain;

/// <summary>
/// Raises the host's shutdown timeout to the drain's budget (<see cref="DrainOptions.ShutdownBudget"/>) when it is
/// shorter, so the two can never disagree: the host's default of 30 s would abort a 30 s drain window before it ends.
/// </summary>
internal sealed class DrainShutdownTimeout : IConfigureOptions<HostOptions>
{
    private readonly IOptions<DrainOptions> _drain;
    private readonly IOptions<HeartbeatOptions> _heartbeat;

    public DrainShutdownTimeout(IOptions<DrainOptions> drain, IOptions<HeartbeatOptions> heartbeat)
    {
        _drain = drain;
        _heartbeat = heartbeat;
    }

    public void Configure(HostOptions options)
    {
        try
        {
            // Never shorter than the drain needs; an operator's longer timeout stands.
            var budget = _drain.Value.ShutdownBudget(_heartbeat.Value.CloseTimeout);
            if (options.ShutdownTimeout < budget)
            {
                options.ShutdownTimeout = budget;
            }
        }
        catch (Exception exception) when (exception is OptionsValidationException or InvalidOperationException)
        {
            // The host reads its options while it is built, before StartupValidator reports every problem at
            // once and stops the process; until then the default stands.
        }
    }
}
