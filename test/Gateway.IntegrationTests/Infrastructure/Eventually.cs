namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>Waits for a condition that becomes true asynchronously (a session's end reaching a counter), with a deadline.</summary>
public static class Eventually
{
    public static async Task EqualAsync<T>(T expected, Func<T> actual, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!EqualityComparer<T>.Default.Equals(actual(), expected) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(expected, actual());
    }

    public static async Task EqualAsync<T>(T expected, Func<Task<T>> actual, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!EqualityComparer<T>.Default.Equals(await actual(), expected) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(expected, await actual());
    }
}
