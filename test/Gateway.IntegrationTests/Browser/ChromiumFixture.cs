using Gateway.IntegrationTests.Infrastructure;
using Microsoft.Playwright;

namespace Gateway.IntegrationTests.Browser;

/// <summary>
/// Debian's Chromium (<c>/usr/bin/chromium</c>, installed by .ci/run), headless, driven by Microsoft.Playwright
/// through <c>ExecutablePath</c>: Playwright never downloads a browser here. Started on first use, so a machine
/// without Chromium skips the tests without starting anything.
/// </summary>
public sealed class ChromiumFixture : IAsyncLifetime
{
    /// <summary>The flags that keep Chromium off the network it cannot reach here (it retries refused connections otherwise).</summary>
    private static readonly string[] Flags =
    [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
        // The test pages' origins are public names (http://app.test) and the gateway is on loopback: Chromium's Local
        // Network Access check would refuse those connections (a user would be asked; headless, nobody answers).
        "--disable-features=LocalNetworkAccessChecks",
    ];

    private static readonly string PageHtml = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Browser", "socket-page.html"));

    private readonly SemaphoreSlim _start = new(1, 1);
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>
    /// A new browser context (its own cookies and cache) with one page at <paramref name="origin"/> (for example
    /// <c>http://app.test</c>): the page is served by the browser's request interception, so the origin needs no DNS
    /// name and no server, and every WebSocket the page opens is a real connection from Chromium's network stack.
    /// Certificate errors are ignored: the gateway's wss:// listener uses a self-signed test certificate.
    /// </summary>
    public async Task<SocketPage> OpenPageAsync(string origin)
    {
        var browser = await BrowserAsync();
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { IgnoreHTTPSErrors = true });
        await context.RouteAsync(origin + "/**", route => route.FulfillAsync(new RouteFulfillOptions { ContentType = "text/html", Body = PageHtml }));
        var page = await context.NewPageAsync();
        await page.GotoAsync(origin + "/");
        return new SocketPage(context, page);
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
        }

        _playwright?.Dispose();
        _start.Dispose();
    }

    private async Task<IBrowser> BrowserAsync()
    {
        await _start.WaitAsync();
        try
        {
            if (_browser is null)
            {
                var executable = ExternalTool.Find("chromium") ?? throw new InvalidOperationException("chromium is not installed (.ci/run installs it).");
                _playwright ??= await Playwright.CreateAsync();
                try
                {
                    _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
                    {
                        ExecutablePath = executable,
                        Headless = true,
                        Args = Flags,
                    });
                }
                catch
                {
                    // No driver process left behind, and the next test tries afresh.
                    _playwright.Dispose();
                    _playwright = null;
                    throw;
                }
            }

            return _browser;
        }
        finally
        {
            _start.Release();
        }
    }
}
