namespace NativeClient;

/// <summary>
/// A command-line app that signs in through the system browser (RFC 8252), keeps its refresh token in a user-only
/// file, and calls the resource API. Run it again and it refreshes instead of asking; --sign-out forgets it all.
/// </summary>
internal static class Program
{
    public const string Usage = """
        Usage: NativeClient [options]

        Signs in through the system browser (first run), or refreshes (later runs), then calls the resource API.

        Options:
          --issuer <url>       The authorization server (default http://localhost:5000/).
          --client-id <id>     The registered native client (default sample-native).
          --scope <scopes>     Space-separated scopes (default "openid profile email offline_access api").
          --api <url>          The resource API to call (default http://127.0.0.1:5002/api/hello).
          --token-file <path>  Where the refresh token is kept, readable by you only.
          --device             Sign in with a code approved on another device (RFC 8628) instead of a browser here.
          --sign-out           Revoke and delete the stored refresh token instead.
          -h, --help           Show this help.
        """;

    private static readonly string[] ValueOptions = ["--issuer", "--client-id", "--scope", "--api", "--token-file"];

    public static async Task<int> Main(string[] args)
    {
        var (settings, signOut, exit) = Parse(args, Console.Out, Console.Error);
        if (settings is null)
        {
            return exit;
        }

        using var http = new HttpClient();
        var app = new NativeApp(new NativeSignIn(http, settings), new RefreshTokenStore(settings.TokenFile), Console.Out)
        {
            ShowDeviceCode = settings.Device ? DeviceCodeDisplay.ShowAsync : null,
        };
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, stop) =>
        {
            stop.Cancel = true;
            cancel.Cancel();
        };

        try
        {
            return signOut
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

    /// <summary>
    /// The settings of this run, or (with null settings) the exit code: 0 after --help, 2 after an unknown option, a
    /// missing value or a bad URL. Nothing is started before the whole command line is understood: a typo must not
    /// open a browser and start a sign-in.
    /// </summary>
    internal static (NativeClientSettings? Settings, bool SignOut, int Exit) Parse(string[] args, TextWriter output, TextWriter error)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var signOut = false;
        var device = false;
        for (var index = 0; index < args.Length; index++)
        {
            var arg = args[index];
            if (arg is "-h" or "--help" or "-?" or "help")
            {
                output.WriteLine(Usage);
                return (null, false, 0);
            }

            if (arg == "--sign-out")
            {
                signOut = true;
            }
            else if (arg == "--device")
            {
                device = true;
            }
            else if (ValueOptions.Contains(arg) && index + 1 < args.Length && !args[index + 1].StartsWith("--", StringComparison.Ordinal))
            {
                values[arg] = args[++index];
            }
            else
            {
                error.WriteLine(ValueOptions.Contains(arg) ? $"error: {arg} needs a value." : $"error: unknown option '{arg}'.");
                error.WriteLine(Usage);
                return (null, false, 2);
            }
        }

        if (!Absolute(values, "--issuer", "http://localhost:5000/", error, out var issuer) || !Absolute(values, "--api", "http://127.0.0.1:5002/api/hello", error, out var api))
        {
            return (null, false, 2);
        }

        return (new NativeClientSettings(
            Issuer: issuer,
            ClientId: values.GetValueOrDefault("--client-id", "sample-native"),
            Scope: values.GetValueOrDefault("--scope", "openid profile email offline_access api"),
            ApiUrl: api,
            TokenFile: values.GetValueOrDefault("--token-file", RefreshTokenStore.DefaultPath),
            Device: device), signOut, 0);
    }

    private static bool Absolute(Dictionary<string, string> values, string name, string fallback, TextWriter error, out Uri uri)
    {
        if (Uri.TryCreate(values.GetValueOrDefault(name, fallback), UriKind.Absolute, out uri!) && uri.Scheme is "http" or "https")
        {
            return true;
        }

        error.WriteLine($"error: {name} must be an absolute http(s) URL.");
        return false;
    }
}
