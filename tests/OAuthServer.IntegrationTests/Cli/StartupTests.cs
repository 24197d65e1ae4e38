using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Cli;

/// <summary>
/// The server binary started as a new operator starts it: asking for help, mistyping a verb, forgetting a setting,
/// or running it from another folder.
/// </summary>
public sealed class StartupTests
{
    private static readonly Dictionary<string, string> Production = new()
    {
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
        ["DOTNET_ENVIRONMENT"] = "Production",
    };

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    [InlineData("-?")]
    public async Task Help_prints_the_usage_with_every_verb_and_exits_0_without_starting_a_server(string help)
    {
        // Note: a port that would be served if the binary started a server; nothing may listen there.
        var port = TestPorts.Free();
        var result = await ServerBinary.RunAsync([help, "--urls", $"http://127.0.0.1:{port}"], Production);

        result.ExitCode.Should().Be(0, result.Error);
        result.Output.Should().Contain("Usage:").And.Contain("migrate").And.Contain("users").And.Contain("clients").And.Contain("keys").And.Contain("tokens");
        result.Output.Should().NotContain("Now listening").And.NotContain("{\"Timestamp\"");
    }

    [Fact]
    public async Task Help_for_a_verb_prints_that_verbs_usage()
    {
        var result = await ServerBinary.RunAsync(["help", "keys"], Production);

        result.ExitCode.Should().Be(0, result.Error);
        result.Output.Should().Contain("OAuthServer keys").And.Contain("retire");
    }

    [Theory]
    [InlineData("lsit")]
    [InlineData("user")]
    [InlineData("Migrate")]
    [InlineData("serve")]
    public async Task An_unknown_verb_prints_the_usage_to_stderr_and_exits_non_zero(string verb)
    {
        var result = await ServerBinary.RunAsync([verb, "list"], Production);

        result.ExitCode.Should().NotBe(0);
        result.Output.Should().BeEmpty("a script reading stdout must not mistake the usage for output");
        result.Error.Should().Contain($"'{verb}' is not a verb").And.Contain("Usage:").And.NotContain("   at ");
    }

    [Fact]
    public async Task Production_with_missing_settings_lists_each_problem_on_its_own_line_without_a_stack_trace()
    {
        // Host settings on the command line still mean "serve": the server gets this far and stops at its checks.
        var result = await ServerBinary.RunAsync(["--urls", $"http://127.0.0.1:{TestPorts.Free()}"], Production);

        result.ExitCode.Should().Be(1);
        var lines = (result.Output + result.Error).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        lines.Should().Contain(line => line.StartsWith("error: Keys:Path is not set", StringComparison.Ordinal));
        lines.Should().Contain(line => line.StartsWith("error: Server:Issuer is not set", StringComparison.Ordinal));
        (result.Output + result.Error).Should().NotContain("   at ").And.NotContain("Exception").And.NotContain("Unhandled");
    }

    [Fact]
    public async Task A_setting_that_does_not_bind_or_a_registration_check_is_one_line_too()
    {
        var badDuration = await ServerBinary.RunAsync([], new Dictionary<string, string>(Production) { ["Keys__ReloadInterval"] = "soon", ["Server__Issuer"] = "https://login.example.com/" });
        badDuration.ExitCode.Should().Be(1);
        badDuration.Error.Should().Contain("Keys:ReloadInterval").And.NotContain("   at ");

        var noConnection = await ServerBinary.RunAsync(["--Database:Provider=Postgres"], Production);
        noConnection.ExitCode.Should().Be(1);
        noConnection.Error.Trim().Should().Be("error: Database:Provider is Postgres but ConnectionStrings:OAuthServer is not set.");
    }

    [Fact]
    public async Task A_key_folder_without_usable_keys_stops_start_up_with_one_line_naming_the_skipped_file()
    {
        var keys = Directory.CreateTempSubdirectory("oauth-start-keys-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(keys, "signing"));
            Directory.CreateDirectory(Path.Combine(keys, "encryption"));
            await File.WriteAllTextAsync(Path.Combine(keys, "signing", "half.pem"), "-----BEGIN PRIVATE KEY-----\nMIIE\n");
            await File.WriteAllTextAsync(Path.Combine(keys, "encryption", "half.pem"), "-----BEGIN PRIVATE KEY-----\nMIIE\n");
            var result = await ServerBinary.RunAsync([], new Dictionary<string, string>(Production)
            {
                ["Keys__Path"] = keys,
                ["Server__Issuer"] = "https://login.example.com/",
                ["Database__Provider"] = "Postgres",
                ["ConnectionStrings__OAuthServer"] = "Host=127.0.0.1;Port=9;Username=x;Password=x;Database=x;Timeout=2",
            });

            result.ExitCode.Should().Be(1);
            result.Error.Should().Contain("error: Keys: no signing or encryption key").And.Contain("signing/half.pem").And.NotContain("MIIE").And.NotContain("   at ");
        }
        finally
        {
            Directory.Delete(keys, recursive: true);
        }
    }

    [Fact]
    public async Task Started_from_another_folder_the_binary_reads_its_own_appsettings_so_SQL_is_not_logged_at_Information()
    {
        await using var database = await TestDatabase.CreateAsync("oauth_root");
        var elsewhere = Directory.CreateTempSubdirectory("oauth-elsewhere-").FullName;

        var port = TestPorts.Free();
        var baseUri = new Uri($"http://127.0.0.1:{port}/");
        var start = ServerBinary.StartInfo([], new Dictionary<string, string>
        {
            // Development migrates and seeds at start-up: plenty of SQL to log if EF were at Information.
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["ASPNETCORE_URLS"] = baseUri.ToString(),
            ["Database__Provider"] = "Postgres",
            ["ConnectionStrings__OAuthServer"] = database.ConnectionString,
            ["Server__Issuer"] = baseUri.ToString(),
            ["Keys__Path"] = Path.Combine(elsewhere, "keys"),
        });
        start.WorkingDirectory = elsewhere;
        var lines = new ConcurrentQueue<string>();
        using var server = Process.Start(start)!;
        server.OutputDataReceived += (_, line) => { if (line.Data is not null) { lines.Enqueue(line.Data); } };
        server.ErrorDataReceived += (_, line) => { if (line.Data is not null) { lines.Enqueue(line.Data); } };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = baseUri };
            var ready = false;
            for (var attempt = 0; attempt < 300 && !ready && !server.HasExited; attempt++)
            {
                try
                {
                    ready = (await http.GetAsync("/health/ready")).IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }

                if (!ready)
                {
                    await Task.Delay(200);
                }
            }

            ready.Should().BeTrue(string.Join('\n', lines));
            (await http.GetAsync("/.well-known/openid-configuration")).StatusCode.Should().Be(HttpStatusCode.OK);
            lines.Should().Contain(line => line.Contains("Now listening on", StringComparison.Ordinal), "Information is still logged for our own categories");
            lines.Should().NotContain(line => line.Contains("Executed DbCommand", StringComparison.Ordinal),
                "appsettings.json next to the binary puts Microsoft.EntityFrameworkCore at Warning");
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            Directory.Delete(elsewhere, recursive: true);
        }
    }

}
