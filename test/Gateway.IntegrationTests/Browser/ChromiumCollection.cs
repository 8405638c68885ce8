namespace Gateway.IntegrationTests.Browser;

/// <summary>The Chromium tests share one browser process and run one at a time (the browser is the heaviest process of the run).</summary>
[CollectionDefinition(Name)]
public sealed class ChromiumCollection : ICollectionFixture<ChromiumFixture>
{
    public const string Name = "Chromium";
}
