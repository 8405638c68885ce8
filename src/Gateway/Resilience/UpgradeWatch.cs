namespace Gateway.Resilience;

/// <summary>
/// One ticker for every upgrade attempt still waiting for its outcome (in its handshake or its early-abort
/// window): Kestrel's heartbeat is the model. Attempts are few at any moment (rate × window), so a list under
/// a lock, taken once per attempt and once per tick, costs nothing next to a timer per session.
/// </summary>
internal sealed class UpgradeWatch : IDisposable
{
    /// <summary>How late a deadline may be noticed.</summary>
    public static readonly TimeSpan Resolution = TimeSpan.FromMilliseconds(100);

    private readonly List<UpgradeAttempt> _pending = [];
    private readonly Lock _lock = new();
    private readonly TimeProvider _timeProvider;
    private readonly ITimer _timer;

    public UpgradeWatch(TimeProvider timeProvider)
    {
        _timeProvider = timeProvider;
        _timer = timeProvider.CreateTimer(static state => ((UpgradeWatch)state!).Tick(), this, Resolution, Resolution);
    }

    public int Pending
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    public void Add(UpgradeAttempt attempt)
    {
        lock (_lock)
        {
            _pending.Add(attempt);
        }
    }

    public void Dispose() => _timer.Dispose();

    internal void Tick()
    {
        var now = _timeProvider.GetTimestamp();
        lock (_lock)
        {
            var kept = 0;
            for (var i = 0; i < _pending.Count; i++)
            {
                var attempt = _pending[i];
                if (!attempt.Tick(now))
                {
                    _pending[kept++] = attempt;
                }
            }

            _pending.RemoveRange(kept, _pending.Count - kept);
        }
    }
}
