using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.Net;
using BenchmarkDotNet.Attributes;
using Gateway.Frames;
using Gateway.Relay;
using Gateway.Sessions;
using Gateway.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Benchmarks;

/// <summary>
/// The relay's hot path through <see cref="SessionStream"/>, without sockets: one read of client frames (masked,
/// checked and filtered in place) and one write of backend frames (observed for frame boundaries), each over an
/// in-memory transport that completes at once, as a busy socket does. Both must allocate nothing per call, so
/// nothing per relayed frame. The session's route has the heartbeat on (no ping is outstanding, so reads take the
/// plain path). <see cref="Metrics"/> attaches a metrics pipeline, so the relayed-bytes
/// and messages counters really record, as in production; without it their <c>Enabled</c> checks short-cut.
/// </summary>
[MemoryDiagnoser]
public class SessionStreamBenchmarks
{
    /// <summary>Frames per read or write call.</summary>
    private const int Frames = 16;

    private IDisposable? _telemetry;
    private SessionStream _stream = null!;
    private MemoryTransport _transport = null!;
    private byte[] _readBuffer = null!;
    private byte[] _backendFrames = null!;

    /// <summary>Bytes of one frame on the wire, header included: 16 of them fill 1 KiB or the 64 KiB read buffer exactly.</summary>
    [Params(64, 4096)]
    public int FrameBytes { get; set; }

    /// <summary>What listens to the relayed-bytes and messages counters.</summary>
    [Params(MetricsPipeline.Off, MetricsPipeline.OpenTelemetrySdk, MetricsPipeline.PrometheusNet)]
    public MetricsPipeline Metrics { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        _telemetry = MetricsPipelines.Attach(Metrics, meters);
        var registry = new SessionRegistry(TimeProvider.System, new SessionMetrics(meters), NullLogger<SessionRegistry>.Instance);
        var second = TimeProvider.System.TimestampFrequency;
        // The defaults of Gateway:Sessions and Gateway:Heartbeat: 4 MiB frames, 16 MiB messages, probe 25 s, pong 10 s.
        var policy = new SessionRoutePolicy(new ClientFrameLimits(4 * 1024 * 1024, 16 * 1024 * 1024), heartbeat: true, 25 * second, 10 * second, 0, 5 * second, 0, 5 * second);
        var session = registry.Open(new SessionStartInfo("chat", "chat-cluster", "chat-1", IPAddress.Loopback, 50000, SessionProtocol.Http11Upgrade, Policy: policy));
        _transport = new MemoryTransport(Repeat(Frame(FrameBytes, masked: true)));
        _stream = new SessionStream(_transport, session, registry.Metrics, TimeProvider.System);
        _readBuffer = new byte[64 * 1024];
        _backendFrames = Repeat(Frame(FrameBytes, masked: false));

        // Every frame goes through, in one synchronous call each way.
        if (ReadClientFrames() != Frames * FrameBytes || session.ClientMessages != Frames)
        {
            throw new InvalidOperationException($"A read passed on the wrong bytes ({session.ClientMessages} messages).");
        }

        WriteBackendFrames();
        if (_transport.Written != Frames * FrameBytes || session.BackendMessages != Frames)
        {
            throw new InvalidOperationException($"A write passed on the wrong bytes ({_transport.Written} bytes, {session.BackendMessages} messages).");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stream.Dispose();
        _telemetry?.Dispose();
    }

    /// <summary>One read through the session stream: 16 masked client text frames checked and passed on in place.</summary>
    [Benchmark]
    public int ReadClientFrames()
    {
        var read = _stream.ReadAsync(_readBuffer);
        return read.IsCompletedSuccessfully ? read.Result : read.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>The same read from the in-memory transport alone: its copy of the frames, which a socket read also makes.</summary>
    [Benchmark]
    public int TransportReadOnly() => _transport.ReadAsync(_readBuffer).Result;

    /// <summary>One write through the session stream: 16 unmasked backend binary frames observed and passed on.</summary>
    [Benchmark]
    public void WriteBackendFrames()
    {
        var write = _stream.WriteAsync(_backendFrames);
        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
        }
        else
        {
            write.AsTask().GetAwaiter().GetResult();
        }
    }

    private static byte[] Repeat(byte[] frame)
    {
        var frames = new byte[frame.Length * Frames];
        for (var i = 0; i < Frames; i++)
        {
            frame.CopyTo(frames, i * frame.Length);
        }

        return frames;
    }

    /// <summary>
    /// One RFC 6455 frame of exactly <paramref name="size"/> bytes: a client's masked text frame, or a server's
    /// unmasked binary frame.
    /// </summary>
    private static byte[] Frame(int size, bool masked)
    {
        var maskLength = masked ? 4 : 0;
        var header = size - 2 - maskLength <= 125 ? 2 : 4;
        var payload = size - header - maskLength;
        var frame = new byte[size];
        frame[0] = (byte)(0x80 | (masked ? 0x1 : 0x2));
        var maskBit = masked ? 0x80 : 0;
        if (header == 2)
        {
            frame[1] = (byte)(maskBit | payload);
        }
        else
        {
            frame[1] = (byte)(maskBit | 126);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload);
        }

        var body = frame.AsSpan(header + maskLength);
        body.Fill((byte)'x');
        if (masked)
        {
            ReadOnlySpan<byte> key = [0x37, 0xfa, 0x21, 0x3d];
            key.CopyTo(frame.AsSpan(header));
            for (var i = 0; i < body.Length; i++)
            {
                body[i] ^= key[i % 4];
            }
        }

        return frame;
    }

    /// <summary>A client transport in memory: every read returns the same client frames at once; writes complete at once and are dropped.</summary>
    private sealed class MemoryTransport(byte[] clientFrames) : Gateway.Tests.Infrastructure.AsyncOnlyStream
    {
        public long Written { get; private set; }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.IsEmpty)
            {
                return new ValueTask<int>(0);
            }

            if (buffer.Length < clientFrames.Length)
            {
                throw new InvalidOperationException("The read buffer must hold all the prepared frames.");
            }

            clientFrames.CopyTo(buffer.Span);
            return new ValueTask<int>(clientFrames.Length);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Written += buffer.Length;
            return default;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).GetAwaiter().GetResult();

        public override void Write(byte[] buffer, int offset, int count) => Written += count;
    }
}
