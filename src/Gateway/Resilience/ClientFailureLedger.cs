using System.Buffers.Binary;
using System.Net;

namespace Gateway.Resilience;

/// <summary>
/// One destination's record of which clients had failures they could have provoked themselves counted against its
/// breaker (see <see cref="BackendFailures.IsClientProvokable"/>): at most <c>MaxFailuresPerClient</c> per client
/// within any sampling window, so one client cannot open the breaker for everybody.
/// </summary>
/// <remarks>
/// <para>Bounded: a fixed table of <see cref="Capacity"/> clients, each with its count in the current and the
/// previous fixed window (summed, so the cap holds over any span as long as Polly's rolling window). A slot whose
/// counts have aged out is free. When every slot holds a client that failed recently, a further client's failure is
/// counted without being recorded: that many distinct clients failing is the backend's trouble, not one client's.</para>
/// <para>Touched once or twice per upgrade, never per message: a lock and a scan of 64 slots are fine there, and a
/// destination nobody failed on for two windows costs one volatile read.</para>
/// </remarks>
internal sealed class ClientFailureLedger
{
    /// <summary>Distinct clients tracked per destination.</summary>
    public const int Capacity = 64;

    private readonly Slot[] _slots = new Slot[Capacity];
    private readonly Lock _lock = new();
    private readonly TimeProvider _timeProvider;
    private readonly long _windowTicks;
    private long _lastFailureWindow = long.MinValue;

    public ClientFailureLedger(int maxFailuresPerClient, TimeSpan window, TimeProvider timeProvider)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFailuresPerClient, 1);
        MaxFailuresPerClient = maxFailuresPerClient;
        _timeProvider = timeProvider;
        _windowTicks = Math.Max(1, (long)(window.TotalSeconds * timeProvider.TimestampFrequency));
    }

    public int MaxFailuresPerClient { get; }

    /// <summary>
    /// The client already has its share of failures counted: its next attempt must not be one the breaker counts,
    /// whatever it turns out to be (Polly has no outcome that counts as neither success nor failure).
    /// </summary>
    public bool HasReachedCap(IPAddress client)
    {
        var window = CurrentWindow();
        if (Volatile.Read(ref _lastFailureWindow) < window - 1)
        {
            return false;
        }

        var key = KeyOf(client);
        lock (_lock)
        {
            var index = Find(key);
            return index >= 0 && CountOf(_slots[index], window) >= MaxFailuresPerClient;
        }
    }

    /// <summary>
    /// Records a failure the client could have provoked; false when it is past the client's cap and must not count
    /// (possible only for attempts started before the client's earlier failures were known: a burst).
    /// </summary>
    public bool TryCount(IPAddress client)
    {
        var window = CurrentWindow();
        var key = KeyOf(client);
        lock (_lock)
        {
            Volatile.Write(ref _lastFailureWindow, window);
            var index = Find(key);
            if (index < 0)
            {
                index = FindFree(window);
                if (index < 0)
                {
                    return true;
                }

                _slots[index] = new Slot { Client = key, Window = window };
            }

            ref var slot = ref _slots[index];
            Age(ref slot, window);
            if (slot.Current + slot.Previous >= MaxFailuresPerClient)
            {
                return false;
            }

            slot.Current++;
            return true;
        }
    }

    /// <summary>Failures counted for the client over the current and the previous window (for tests and diagnostics).</summary>
    public int CountOf(IPAddress client)
    {
        var window = CurrentWindow();
        var key = KeyOf(client);
        lock (_lock)
        {
            var index = Find(key);
            return index < 0 ? 0 : CountOf(_slots[index], window);
        }
    }

    private long CurrentWindow() => _timeProvider.GetTimestamp() / _windowTicks;

    private int Find(UInt128 key)
    {
        for (var i = 0; i < _slots.Length; i++)
        {
            if (_slots[i].Used && _slots[i].Client == key)
            {
                return i;
            }
        }

        return -1;
    }

    private int FindFree(long window)
    {
        for (var i = 0; i < _slots.Length; i++)
        {
            if (!_slots[i].Used || CountOf(_slots[i], window) == 0)
            {
                return i;
            }
        }

        return -1;
    }

    private static int CountOf(in Slot slot, long window)
        => slot.Window == window ? slot.Current + slot.Previous : slot.Window == window - 1 ? slot.Current : 0;

    private static void Age(ref Slot slot, long window)
    {
        if (slot.Window == window)
        {
            return;
        }

        slot.Previous = slot.Window == window - 1 ? slot.Current : 0;
        slot.Current = 0;
        slot.Window = window;
    }

    /// <summary>The address as 16 bytes, IPv4 in its IPv6-mapped form, so both spellings of a client are one key.</summary>
    private static UInt128 KeyOf(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            bytes[10] = 0xff;
            bytes[11] = 0xff;
            address.TryWriteBytes(bytes[12..], out _);
        }
        else
        {
            address.TryWriteBytes(bytes, out _);
        }

        return BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    private struct Slot
    {
        public UInt128 Client;
        public long Window;
        public int Current;
        public int Previous;

        public readonly bool Used => Current != 0 || Previous != 0;
    }
}
