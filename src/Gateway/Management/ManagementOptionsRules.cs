using Microsoft.Extensions.Options;

namespace Gateway.Management;

/// <summary>Cross-field and file checks of <see cref="ManagementOptions"/>: a token file named must hold a usable token at start.</summary>
internal sealed class ManagementOptionsRules : IValidateOptions<ManagementOptions>
{
    public ValidateOptionsResult Validate(string? name, ManagementOptions options)
    {
        var errors = new List<string>();
        if (options.DefaultPageSize > options.MaxPageSize)
        {
            errors.Add($"DefaultPageSize ({options.DefaultPageSize}) is above MaxPageSize ({options.MaxPageSize}).");
        }

        if (options.TokenFile is { } file)
        {
            if (ManagementToken.Read(file, out var token) is { } problem)
            {
                errors.Add($"TokenFile: {problem}");
            }
            else if (token!.Length < ManagementOptions.MinimumTokenLength)
            {
                errors.Add($"TokenFile: the token in '{file}' has {token.Length} characters; at least {ManagementOptions.MinimumTokenLength} are needed (e.g. `openssl rand -hex 32`).");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
