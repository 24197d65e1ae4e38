using System.Diagnostics;
using System.Net;

namespace NativeClient;

/// <summary>What one run of the app does: get tokens (refresh, or sign in), keep the new refresh token, call the API.</summary>
internal sealed class NativeApp(NativeSignIn signIn, RefreshTokenStore store, TextWriter output)
{
    /// <summary>Set by --device: sign in with RFC 8628 (a code approved on another screen) instead of a browser here.</summary>
    public Func<DevicePrompt, Task>? ShowDeviceCode { get; init; }

    public async Task<int> RunAsync(Func<Uri, Task> openBrowser, CancellationToken cancellationToken)
    {
        var tokens = await GetTokensAsync(openBrowser, cancellationToken);
        if (tokens.RefreshToken is not null)
        {
            // Note: the server rotates refresh tokens on every use: the old one is dead now, so keep the new one.
            store.Save(tokens.RefreshToken);
        }

        var (status, body) = await signIn.CallApiAsync(tokens.AccessToken, cancellationToken);
        await output.WriteLineAsync($"Resource API answered {(int)status}: {body}");
        return status == HttpStatusCode.OK ? 0 : 1;
    }

    public async Task<int> SignOutAsync(CancellationToken cancellationToken)
    {
        if (store.Load() is { } refreshToken)
        {
            await signIn.RevokeAsync(refreshToken, cancellationToken);
        }

        store.Delete();
        await output.WriteLineAsync("Signed out: the refresh token is revoked and deleted.");
        return 0;
    }

    private async Task<TokenSet> GetTokensAsync(Func<Uri, Task> openBrowser, CancellationToken cancellationToken)
    {
        if (store.Load() is { } refreshToken)
        {
            try
            {
                var refreshed = await signIn.RefreshAsync(refreshToken, cancellationToken);
                await output.WriteLineAsync("Refreshed the saved sign-in (no browser needed).");
                return refreshed;
            }
            catch (SignInException error)
            {
                // Expired, revoked, or the user was disabled: forget it and sign in again.
                await output.WriteLineAsync($"The saved sign-in no longer works ({error.Message}); signing in again.");
                store.Delete();
            }
        }

        var tokens = ShowDeviceCode is { } show
            ? await signIn.DeviceSignInAsync(show, cancellationToken)
            : await signIn.SignInAsync(openBrowser, cancellationToken);
        await output.WriteLineAsync("Signed in.");
        return tokens;
    }
}

/// <summary>What --device prints: the user approves on any other device with a browser.</summary>
internal static class DeviceCodeDisplay
{
    public static Task ShowAsync(DevicePrompt prompt)
    {
        Console.WriteLine($"To sign in, open {prompt.VerificationUri.AbsoluteUri} on any device and enter the code {prompt.UserCode}");
        if (prompt.VerificationUriComplete is { } complete)
        {
            Console.WriteLine($"(or open {complete.AbsoluteUri})");
        }

        Console.WriteLine("Waiting for the approval...");
        return Task.CompletedTask;
    }
}

/// <summary>Opens a URL in the system browser (RFC 8252 §4: not an embedded web view), or asks the user to.</summary>
internal static class SystemBrowser
{
    public static Task OpenAsync(Uri url)
    {
        Console.WriteLine("Open this URL in your browser to sign in (it listens for the answer on 127.0.0.1):");
        // Note: AbsoluteUri keeps the escaping (ToString() would turn %20 back into spaces, and break the URL).
        Console.WriteLine(url.AbsoluteUri);
        var opener = OperatingSystem.IsWindows() ? null : OperatingSystem.IsMacOS() ? "open" : "xdg-open";
        try
        {
            using var process = opener is null
                ? Process.Start(new ProcessStartInfo(url.AbsoluteUri) { UseShellExecute = true })
                : Process.Start(new ProcessStartInfo(opener, [url.AbsoluteUri]) { RedirectStandardError = true, RedirectStandardOutput = true });
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No browser here (a server, a container): the printed URL is the way.
        }

        return Task.CompletedTask;
    }
}
