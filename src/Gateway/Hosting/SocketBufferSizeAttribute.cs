using System.ComponentModel.DataAnnotations;

namespace Gateway.Hosting;

/// <summary>
/// A socket buffer size: <see cref="SocketBufferOptions.Autotuned"/> (0), or bytes from
/// <see cref="SocketBufferOptions.MinSize"/> to <see cref="SocketBufferOptions.MaxSize"/>. [Range] cannot say "0 or".
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class SocketBufferSizeAttribute : ValidationAttribute
{
    public SocketBufferSizeAttribute()
        : base($"The field {{0}} must be {SocketBufferOptions.Autotuned} (kernel autotuning) or between {SocketBufferOptions.MinSize} and {SocketBufferOptions.MaxSize} bytes.")
    {
    }

    public override bool IsValid(object? value)
        => value is int size && (size == SocketBufferOptions.Autotuned || size is >= SocketBufferOptions.MinSize and <= SocketBufferOptions.MaxSize);
}
