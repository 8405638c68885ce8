using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Gateway.Relay;

/// <summary>
/// The client's connection, as the lean path's relay reads and writes it: a stream over the connection's own
/// transport pipes (Kestrel's socket transport, or TLS above it), once the HTTP layer has let go of them.
/// </summary>
/// <remarks>
/// <para>A zero-byte read waits for data and consumes nothing: the pipe holds no buffer while the session idles
/// (Kestrel's socket transport waits with a zero-byte receive too). Reads copy out of the pipe's segments; bytes the
/// client sent right behind its upgrade request are still in the pipe, unexamined, so the first read returns them.</para>
/// <para>A cancelled pending read (<see cref="PipeReader.CancelPendingRead"/>, how the relay stops this direction)
/// throws <see cref="OperationCanceledException"/>; a write after the connection closed throws
/// <see cref="IOException"/>, so the relay knows which side failed. Disposing does nothing: the connection's transport
/// belongs to Kestrel, which closes it when the connection middleware returns.</para>
/// </remarks>
internal sealed class ConnectionTransportStream : Stream
{
    private readonly IDuplexPipe _transport;

    public ConnectionTransportStream(IDuplexPipe transport)
    {
        _transport = transport;
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = _transport.Input.ReadAsync(cancellationToken);
        return read.IsCompletedSuccessfully ? new ValueTask<int>(Take(read.Result, buffer.Span)) : ReadAwaitedAsync(read, buffer);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadAwaitedAsync(ValueTask<ReadResult> read, Memory<byte> buffer) => Take(await read.ConfigureAwait(false), buffer.Span);

    private int Take(ReadResult result, Span<byte> destination)
    {
        var input = _transport.Input;
        var data = result.Buffer;
        if (result.IsCanceled)
        {
            input.AdvanceTo(data.Start);
            throw new OperationCanceledException("The relay stopped reading from the client.");
        }

        if (destination.IsEmpty || data.IsEmpty)
        {
            // Data is there (a zero-byte read's answer), or the client's end of stream: nothing consumed either way.
            input.AdvanceTo(data.Start);
            return 0;
        }

        var count = (int)Math.Min(data.Length, destination.Length);
        var taken = data.Slice(0, count);
        taken.CopyTo(destination);
        input.AdvanceTo(taken.End);
        return count;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var flush = _transport.Output.WriteAsync(buffer, cancellationToken);
        if (flush.IsCompletedSuccessfully)
        {
            Check(flush.Result);
            return default;
        }

        return FlushAwaitedAsync(flush);
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask FlushAwaitedAsync(ValueTask<FlushResult> flush) => Check(await flush.ConfigureAwait(false));

    private static void Check(FlushResult result)
    {
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("The relay stopped writing to the client.");
        }

        if (result.IsCompleted)
        {
            throw new IOException("The client's connection is closed.");
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
