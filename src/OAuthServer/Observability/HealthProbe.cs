namespace OAuthServer.Observability;

/// <summary>
/// <c>OAuthServer healthcheck [url]</c>: asks a running server whether it is ready and exits 0 or 1. The
/// chiseled runtime image has no shell or curl, so the container's HEALTHCHECK runs the server binary itself.
/// It starts no host and opens no database: it is a plain HTTP GET.
/// </summary>
internal static class HealthProbe
{
    public const string Verb = "healthcheck";
    private const string DefaultUrl = "http://127.0.0.1:8080/health/ready";

    public static bool IsProbe(string[] args) => args.Length > 0 && args[0] == Verb;

    public static async Task<int> RunAsync(string[] args)
    {
        var url = args.Length > 1 ? args[1] : DefaultUrl;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            await Console.Error.WriteLineAsync($"error: '{url}' is not an absolute URL.");
            return 2;
        }

        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await client.GetAsync(uri);
            await Console.Out.WriteLineAsync($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            await Console.Error.WriteLineAsync($"unhealthy: {exception.Message}");
            return 1;
        }
    }
}
