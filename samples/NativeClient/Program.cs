namespace NativeClient;

/// <summary>
/// A command-line app that signs in through the system browser (RFC 8252), keeps its refresh token in a user-only
/// file, and calls the resource API. Run it again and it refreshes instead of asking; --sign-out forgets it all.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var settings = new NativeClientSettings(
            Issuer: new Uri(Option(args, "--issuer") ?? "http://localhost:5000/"),
            ClientId: Option(args, "--client-id") ?? "sample-native",
            Scope: Option(args, "--scope") ?? "openid profile email offline_access api",
            ApiUrl: new Uri(Option(args, "--api") ?? "http://127.0.0.1:5002/api/hello"),
            TokenFile: Option(args, "--token-file") ?? RefreshTokenStore.DefaultPath);

        using var http = new HttpClient();
        var app = new NativeApp(new NativeSignIn(http, settings), new RefreshTokenStore(settings.TokenFile), Console.Out);
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, stop) =>
        {
            stop.Cancel = true;
            cancel.Cancel();
        };

        try
        {
            return args.Contains("--sign-out")
                ? await app.SignOutAsync(cancel.Token)
                : await app.RunAsync(SystemBrowser.OpenAsync, cancel.Token);
        }
        catch (SignInException error)
        {
            await Console.Error.WriteLineAsync("error: " + error.Message);
            return 1;
        }
        catch (HttpRequestException error)
        {
            await Console.Error.WriteLineAsync($"error: could not reach the server ({error.Message}).");
            return 1;
        }
    }

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}
