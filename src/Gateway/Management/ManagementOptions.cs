using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Gateway.Management;

/// <summary>
/// The management API (<c>Gateway:Management</c>): <c>/admin/*</c> on the management listener, never the public one.
/// Every call needs <c>Authorization: Bearer</c> with the token in <see cref="TokenFile"/>; without a token file every
/// call is refused (401): the API is never open by default.
/// </summary>
public sealed class ManagementOptions
{
    public const string SectionName = "Gateway:Management";

    /// <summary>The shortest token accepted: 128 bits of a random hex or base64 string; a guessable token is refused at start.</summary>
    public const int MinimumTokenLength = 32;

    /// <summary>
    /// A file holding the bearer token (a mounted Kubernetes Secret; surrounding whitespace is ignored). Read on each
    /// call, so a rotated Secret takes effect without a restart. Null: no token, every call is 401.
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>Sessions a listing returns when the call names no <c>limit</c>.</summary>
    [Range(1, 100_000)]
    public int DefaultPageSize { get; set; } = 100;

    /// <summary>The largest <c>limit</c> a listing accepts: bounds what one call allocates and writes.</summary>
    [Range(1, 100_000)]
    public int MaxPageSize { get; set; } = 1000;
}

[OptionsValidator]
internal sealed partial class ManagementOptionsValidator : IValidateOptions<ManagementOptions>;
