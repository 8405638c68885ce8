using Gateway.Balancing;

namespace Gateway.Tests.Balancing;

/// <summary>Issue 16, item 4: key stability, spread, and how many keys move when a destination leaves or joins.</summary>
public sealed class RendezvousHashTests
{
    private const int Keys = 100_000;

    private static readonly string[] Ten = [.. Enumerable.Range(1, 10).Select(i => $"d{i}")];

    [Fact]
    public void SameKey_SameDestination_WhateverTheOrderOfTheList()
    {
        var shuffled = Ten.Reverse().ToArray();
        for (var i = 0; i < 1_000; i++)
        {
            var key = RendezvousHash.HashOf($"room-{i}");
            Assert.Equal(Pick(key, Ten), Pick(key, Ten));
            Assert.Equal(Pick(key, Ten), Pick(key, shuffled));
        }
    }

    [Fact]
    public void HashesAreStable_AcrossProcessesAndReleases()
    {
        // XxHash3 of the string's UTF-16 bytes: fixed by its specification, unlike string.GetHashCode, which is
        // randomised per process. Every gateway pod sends a key to the same destination.
        Assert.Equal(RendezvousHash.HashOf("room-42"), RendezvousHash.HashOf(new string("room-42".AsSpan())));
        // Pinned: a change of hash or of scoring would move every key of a running fleet.
        var picks = string.Join(" ", Enumerable.Range(40, 10).Select(i => Pick(RendezvousHash.HashOf($"room-{i}"), Ten)));
        Assert.Equal("d6 d5 d1 d4 d5 d1 d3 d10 d6 d3", picks);
    }

    [Fact]
    public void Spread_TenDestinations_EachWithinFivePercentOfATenth()
    {
        var counts = Assignments(Ten).GroupBy(id => id).ToDictionary(group => group.Key, group => group.Count());

        Assert.Equal(10, counts.Count);
        Assert.All(counts.Values, count => Assert.InRange(count, Keys / 10 * 0.95, Keys / 10 * 1.05));
    }

    [Fact]
    public void RemovingOneOfTen_MovesOnlyItsOwnKeys_AboutATenth()
    {
        var before = Assignments(Ten);
        var after = Assignments([.. Ten.Where(id => id != "d7")]);

        var moved = Enumerable.Range(0, Keys).Where(i => before[i] != after[i]).ToList();
        Assert.All(moved, i => Assert.Equal("d7", before[i]));
        Assert.Equal(before.Count(id => id == "d7"), moved.Count);
        Assert.InRange(moved.Count, 0, Keys * (1.0 / 10 + 0.05));
    }

    [Fact]
    public void AddingAnEleventh_MovesAboutAnEleventh_AllToTheNewOne()
    {
        var before = Assignments(Ten);
        var after = Assignments([.. Ten, "d11"]);

        var moved = Enumerable.Range(0, Keys).Where(i => before[i] != after[i]).ToList();
        Assert.All(moved, i => Assert.Equal("d11", after[i]));
        Assert.InRange(moved.Count, Keys * (1.0 / 11 - 0.05), Keys * (1.0 / 11 + 0.05));
    }

    private static string[] Assignments(IReadOnlyList<string> destinations)
        => [.. Enumerable.Range(0, Keys).Select(i => Pick(RendezvousHash.HashOf($"user-{i}"), destinations))];

    private static string Pick(ulong key, IReadOnlyList<string> destinations) => destinations[RendezvousHash.Pick(key, destinations, static id => id)];
}
