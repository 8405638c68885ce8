using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.IntegrationTests.Infrastructure;

/// <summary>Weak references to the objects of the WebSocket requests a gateway listener serves (hosting's diagnostic events).</summary>
public sealed class RequestProbe : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
{
    private readonly int _port;
    private readonly IDisposable _all;
    private readonly ConcurrentBag<IDisposable> _subscriptions = [];
    private readonly ConcurrentQueue<(WeakReference Context, WeakReference Connection, WeakReference Activity)> _seen = new();

    public RequestProbe(int port)
    {
        _port = port;
        _all = DiagnosticListener.AllListeners.Subscribe(this);
    }

    public (WeakReference Context, WeakReference Connection, WeakReference Activity) Only() => Assert.Single(_seen);

    /// <summary>Collects until the weak references die, a few rounds at most; true when all three did.</summary>
    public static async Task<bool> CollectAsync(params WeakReference[] references)
    {
        for (var round = 0; round < 10; round++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            if (references.All(reference => !reference.IsAlive))
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }

    public void OnNext(DiagnosticListener value)
    {
        if (value.Name == "Microsoft.AspNetCore")
        {
            _subscriptions.Add(value.Subscribe(this, static (name, _, _) => name.StartsWith("Microsoft.AspNetCore.Hosting.HttpRequestIn", StringComparison.Ordinal)));
        }
    }

    public void OnNext(KeyValuePair<string, object?> value)
    {
        if (value.Key == "Microsoft.AspNetCore.Hosting.HttpRequestIn.Start" && value.Value is HttpContext context
            && context.Connection.LocalPort == _port && context.Request.Headers.Upgrade == "websocket")
        {
            _seen.Enqueue((new WeakReference(context), new WeakReference(context.Features.Get<IHttpRequestFeature>()), new WeakReference(Activity.Current)));
        }
    }

    public void OnCompleted()
    {
    }

    public void OnError(Exception error)
    {
    }

    public void Dispose()
    {
        _all.Dispose();
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }
    }
}
