using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Gateway.Management;

/// <summary>
/// Checks a call's <c>Authorization: Bearer</c> against the token file. Hand-written because ASP.NET Core has no scheme
/// for a static token (JwtBearer validates JWTs; API-key handlers are third-party) and a whole authentication scheme for
/// one comparison on one branch would be more code, not less. The file is read on every call: management calls are
/// rare, and a rotated Kubernetes Secret (an atomic symlink swap) is seen at once.
/// </summary>
internal sealed class ManagementToken
{
    private readonly string? _file;

    public ManagementToken(IOptions<ManagementOptions> options) => _file = options.Value.TokenFile;

    /// <summary>Whether a token file is configured at all (without one every call is refused).</summary>
    public bool Configured => _file is not null;

    /// <summary>Null when the call carries the token; else why not, for the 401's <c>error_description</c> and the log.</summary>
    public string? Check(HttpContext context)
    {
        if (_file is null)
        {
            return "no management token is configured (Gateway:Management:TokenFile); every call is refused";
        }

        var header = context.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return "the call has no bearer token";
        }

        if (Read(_file, out var expected) is { } problem)
        {
            return problem;
        }

        // Compared as hashes, in constant time: neither the token's bytes nor its length leak through timing.
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header.AsSpan(Scheme.Length).Trim().ToString()));
        return CryptographicOperations.FixedTimeEquals(given, SHA256.HashData(Encoding.UTF8.GetBytes(expected!))) ? null : "the bearer token is wrong";
    }

    /// <summary>Reads the token from <paramref name="file"/>; returns the problem, or null with the token.</summary>
    public static string? Read(string file, out string? token)
    {
        token = null;
        try
        {
            token = File.ReadAllText(file).Trim();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return $"the token file '{file}' cannot be read: {exception.Message}";
        }

        return token.Length == 0 ? $"the token file '{file}' is empty" : null;
    }
}
