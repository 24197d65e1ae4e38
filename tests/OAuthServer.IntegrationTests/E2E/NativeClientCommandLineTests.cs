using System.Diagnostics;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.E2E;

/// <summary>
/// samples/NativeClient run as a user runs it: asking for help or mistyping an option prints the usage and never
/// starts a sign-in (which would open a browser and listen on a loopback port).
/// </summary>
public sealed class NativeClientCommandLineTests
{
    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_prints_the_usage_and_exits_0_without_starting_a_sign_in(string help)
    {
        var (exit, output, error) = await RunAsync(help, "--issuer", Unreachable());

        exit.Should().Be(0, error);
        output.Should().Contain("Usage: NativeClient").And.Contain("--sign-out").And.Contain("--issuer");
        (output + error).Should().NotContain("error:").And.NotContain("Open this URL", "no sign-in was started");
    }

    [Theory]
    [InlineData("--hepl")]
    [InlineData("--signout")]
    [InlineData("extra")]
    public async Task An_unknown_option_prints_the_usage_to_stderr_and_exits_2(string typo)
    {
        var (exit, output, error) = await RunAsync("--issuer", Unreachable(), typo);

        exit.Should().Be(2);
        output.Should().BeEmpty();
        error.Should().Contain($"unknown option '{typo}'").And.Contain("Usage: NativeClient");
    }

    [Fact]
    public async Task An_option_without_its_value_or_a_bad_URL_is_refused_before_anything_starts()
    {
        var missing = await RunAsync("--issuer");
        missing.Exit.Should().Be(2);
        missing.Error.Should().Contain("--issuer needs a value");

        var swallowed = await RunAsync("--issuer", "--sign-out");
        swallowed.Exit.Should().Be(2, "--sign-out is not an issuer");

        var relative = await RunAsync("--issuer", "login.example.com");
        relative.Exit.Should().Be(2);
        relative.Error.Should().Contain("--issuer must be an absolute http(s) URL");
    }

    // A loopback URL nobody listens on: should the sample start a sign-in anyway, it fails at once instead of hanging.
    private static string Unreachable() => $"http://127.0.0.1:{TestPorts.Free()}/";

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        var dll = typeof(NativeClient.NativeApp).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // Note: no browser to open, and no saved token of the developer's: a started sign-in would show here.
        start.Environment["BROWSER"] = "/bin/false";
        var home = Directory.CreateTempSubdirectory("native-cli-home-").FullName;
        start.Environment["HOME"] = home;
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException("The sample kept running: it started a sign-in instead of printing the usage.");
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }

        return (process.ExitCode, await output, await error);
    }
}
