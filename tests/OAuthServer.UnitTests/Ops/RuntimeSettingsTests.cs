using System.Text.Json;

namespace OAuthServer.UnitTests.Ops;

/// <summary>
/// The garbage collector the server ships with, read from the runtimeconfig.json its build writes (the file
/// <c>dotnet OAuthServer.dll</c> and the container start from). Server GC without DATAS is a measured throughput
/// choice for the token endpoint (docs/benchmarks.md, change 19); losing it silently would cost 6-15 %.
/// </summary>
public sealed class RuntimeSettingsTests
{
    private static JsonElement ConfigProperties()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "OAuthServer.runtimeconfig.json");
        File.Exists(path).Should().BeTrue("the server project's build output is copied next to the tests");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").Clone();
    }

    [Fact]
    public void The_server_runs_server_GC()
    {
        ConfigProperties().GetProperty("System.GC.Server").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public void The_server_turns_off_dynamic_adaptation_to_application_size()
    {
        ConfigProperties().TryGetProperty("System.GC.DynamicAdaptationMode", out var mode).Should().BeTrue(
            "without the setting .NET turns DATAS on for server GC");
        mode.GetInt32().Should().Be(0);
    }
}
