namespace Gateway.LoadTest.Reconnect;

/// <summary>
/// The sequence numbers of one client's echo messages across its reconnects: every message sent gets the next
/// number; an echo that skips numbers counts them lost, one that repeats or goes back counts a duplicate. When a
/// connection ends, the messages sent on it and not echoed are counted apart, as lost in the close: RFC 6455 lets a
/// closing endpoint drop what it has not yet sent, so those are the expected price of a close, while a gap inside a
/// connection never is. Sent from the scheduler loop, echoed and ended from the session's receive loop.
/// </summary>
internal sealed class MessageSequence
{
    /// <summary>Where a message carries its number: bytes 16-23, after the two timestamps (<see cref="Scenarios.MessageTimestamp"/>).</summary>
    public const int Offset = 2 * Scenarios.MessageTimestamp.Size;

    /// <summary>The smallest message that carries a number.</summary>
    public const int End = Offset + Scenarios.MessageTimestamp.Size;

    private long _sent;
    private long _echoed;

    public long Lost { get; private set; }

    public long LostInClose { get; private set; }

    public long Duplicates { get; private set; }

    /// <summary>The number for the next message to send (1, 2, 3...).</summary>
    public long Next() => Interlocked.Increment(ref _sent);

    public void Echoed(long sequence)
    {
        var last = Volatile.Read(ref _echoed);
        if (sequence <= last)
        {
            Duplicates++;
            return;
        }

        Lost += sequence - last - 1;
        Volatile.Write(ref _echoed, sequence);
    }

    /// <summary>The connection ended: what it carried and did not echo was lost in the close; the next one starts after it.</summary>
    /// <returns>How many messages that was.</returns>
    public long ConnectionEnded()
    {
        var sent = Volatile.Read(ref _sent);
        var inFlight = sent - Volatile.Read(ref _echoed);
        LostInClose += inFlight;
        Volatile.Write(ref _echoed, sent);
        return inFlight;
    }
}
