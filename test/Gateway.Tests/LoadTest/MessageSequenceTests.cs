using Gateway.LoadTest.Reconnect;

namespace Gateway.Tests.LoadTest;

/// <summary>Lost, lost-in-a-close and duplicated echo messages, across a client's connections.</summary>
public sealed class MessageSequenceTests
{
    [Fact]
    public void InOrderEchoes_LoseNothing()
    {
        var sequence = new MessageSequence();
        for (var i = 0; i < 5; i++)
        {
            sequence.Echoed(sequence.Next());
        }

        Assert.Equal(0, sequence.ConnectionEnded());
        Assert.Equal((0L, 0L, 0L), (sequence.Lost, sequence.LostInClose, sequence.Duplicates));
    }

    [Fact]
    public void AGapInsideAConnection_IsLost_ARepeatIsADuplicate_AndWhatTheCloseCutIsCountedApart()
    {
        var sequence = new MessageSequence();
        var sent = Enumerable.Range(0, 6).Select(_ => sequence.Next()).ToArray(); // 1..6 on the first connection

        sequence.Echoed(1);
        sequence.Echoed(3); // 2 never came back
        sequence.Echoed(3); // echoed twice
        sequence.Echoed(4);
        var cut = sequence.ConnectionEnded(); // 5 and 6 were in flight when it ended

        // The next connection goes on numbering: 7, 8.
        Assert.Equal(7, sequence.Next());
        Assert.Equal(8, sequence.Next());
        sequence.Echoed(7);
        sequence.Echoed(8);

        Assert.Equal(6, sent[^1]);
        Assert.Equal(2, cut);
        Assert.Equal(1, sequence.Lost);
        Assert.Equal(2, sequence.LostInClose);
        Assert.Equal(1, sequence.Duplicates);
    }
}
