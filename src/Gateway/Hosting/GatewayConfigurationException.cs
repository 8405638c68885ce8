namespace Gateway.Hosting;

/// <summary>Every problem found in the configuration at start, so an operator fixes them in one pass.</summary>
public sealed class GatewayConfigurationException : Exception
{
    public GatewayConfigurationException(IReadOnlyList<string> problems)
        : base(Format(problems))
    {
        Problems = problems;
    }

    public GatewayConfigurationException()
        : this([])
    {
    }

    public GatewayConfigurationException(string message)
        : this([message])
    {
    }

    public GatewayConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problems = [message];
    }

    public IReadOnlyList<string> Problems { get; }

    private static string Format(IReadOnlyList<string> problems)
        => $"The gateway configuration is invalid ({problems.Count} problem{(problems.Count == 1 ? "" : "s")}):"
            + string.Concat(problems.Select(problem => Environment.NewLine + "  - " + problem));
}
