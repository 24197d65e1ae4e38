using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Cli;

/// <summary>
/// The first <c>migrate</c> on a fresh PostgreSQL database, as an operator runs it: it succeeds without a single
/// Error-level line, so that an error in a deployment log always means something went wrong.
/// </summary>
public sealed class FirstMigrateTests : IAsyncLifetime
{
    private TestDatabase? _database;

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync("oauth_migrate");

    public async Task DisposeAsync()
    {
        await _database!.DisposeAsync();
    }

    [Fact]
    public async Task The_first_migrate_on_a_fresh_database_logs_no_error_and_the_second_finds_it_up_to_date()
    {
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Database__Provider"] = "Postgres",
            ["ConnectionStrings__OAuthServer"] = _database!.ConnectionString,
            // Everything from Information up, as a deployment logs it.
            ["Logging__LogLevel__Default"] = "Information",
        };

        var first = await ServerBinary.RunAsync(["migrate"], environment);

        first.ExitCode.Should().Be(0, first.Error);
        first.Output.Should().Contain("Applied");
        var lines = (first.Output + "\n" + first.Error).Split('\n');
        lines.Should().NotContain(line => line.Contains("\"LogLevel\":\"Error\"", StringComparison.Ordinal) || line.Contains("\"LogLevel\":\"Critical\"", StringComparison.Ordinal));
        lines.Should().NotContain(line => line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal));
        lines.Should().Contain(line => line.Contains("\"LogLevel\":\"Information\"", StringComparison.Ordinal), "the log is on, so a missing error line means none was written");

        var second = await ServerBinary.RunAsync(["migrate"], environment);
        second.ExitCode.Should().Be(0, second.Error);
        second.Output.Should().Contain("Database is up to date.");
    }
}
