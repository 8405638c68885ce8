using Microsoft.Playwright;

namespace Gateway.IntegrationTests.Browser;

/// <summary>
/// A page in Chromium running <c>socket-page.html</c>: the test opens, uses and closes WebSockets through the page's
/// script, and reads what the browser's WebSocket API reports. Every wait has a deadline.
/// </summary>
public sealed class SocketPage : IAsyncDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly IBrowserContext _context;
    private readonly IPage _page;

    public SocketPage(IBrowserContext context, IPage page)
    {
        _context = context;
        _page = page;
    }

    public Task<SocketOpen> OpenAsync(Uri url)
        => _page.EvaluateAsync<SocketOpen>("url => window.gateway.open(url)", url.ToString()).WaitAsync(Deadline);

    /// <summary>Opens a socket that must open.</summary>
    public async Task<int> OpenedAsync(Uri url)
    {
        var open = await OpenAsync(url);
        return open.Opened ? open.Id : throw new Xunit.Sdk.XunitException($"{url} did not open: {await ClosedAsync(open.Id)}");
    }

    public Task<string> EchoAsync(int id, string text)
        => _page.EvaluateAsync<string>("([id, text]) => window.gateway.echo(id, text)", new object[] { id, text }).WaitAsync(Deadline);

    public Task<SocketClose> ClosedAsync(int id, TimeSpan? deadline = null)
        => _page.EvaluateAsync<SocketClose>("id => window.gateway.closed(id)", id).WaitAsync(deadline ?? Deadline);

    public Task<SocketClose> CloseAsync(int id, int code, string reason)
        => _page.EvaluateAsync<SocketClose>("([id, code, reason]) => window.gateway.close(id, code, reason)", new object[] { id, code, reason }).WaitAsync(Deadline);

    public async ValueTask DisposeAsync() => await _context.CloseAsync();
}
