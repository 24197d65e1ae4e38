using OAuthServer.Cli;

namespace OAuthServer.UnitTests.Keys;

public sealed class DurationsTests
{
    [Theory]
    [InlineData("30s", 30)]
    [InlineData("15m", 15 * 60)]
    [InlineData("24h", 24 * 3600)]
    [InlineData("90d", 90 * 86400)]
    [InlineData("0", 0)]
    [InlineData("1.00:00:00", 86400)]
    [InlineData("00:05:00", 300)]
    public void The_issue_syntax_and_dotnet_time_spans_are_accepted(string text, long seconds)
    {
        Durations.TryParse(text, out var duration).Should().BeTrue();
        duration.Should().Be(TimeSpan.FromSeconds(seconds));
    }

    [Theory]
    [InlineData("")]
    [InlineData("24")]
    [InlineData("24x")]
    [InlineData("-1h")]
    [InlineData("1w")]
    [InlineData("99999999999d")]
    [InlineData("-00:05:00")]
    public void Anything_else_is_refused(string text) => Durations.TryParse(text, out _).Should().BeFalse();
}
