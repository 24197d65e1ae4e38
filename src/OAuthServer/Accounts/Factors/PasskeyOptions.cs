using System.Net;
using Microsoft.Extensions.Options;
using OAuthServer.Protocol;

namespace OAuthServer.Accounts.Factors;

/// <summary>Settings of the <c>Passkeys</c> section: who we are to an authenticator (WebAuthn §5.4.2) and where we are.</summary>
internal sealed class PasskeyOptions
{
    public const string Section = "Passkeys";

    /// <summary>The longest a challenge may live: past it, an assertion or registration is refused.</summary>
    public static readonly TimeSpan MaxChallengeLifetime = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The relying-party id (WebAuthn §5.1.2, "RP ID"): a registrable domain our pages are served from. Every passkey
    /// is bound to it for ever: changing it later orphans every passkey already registered. Default: the issuer's
    /// host (<c>localhost</c> for a loopback address, which browsers don't accept as an RP id).
    /// </summary>
    public string? RelyingPartyId { get; set; }

    /// <summary>The name the browser shows when it asks the person to create or use a passkey. Default: the product name.</summary>
    public string? RelyingPartyName { get; set; }

    /// <summary>
    /// The origins (scheme, host, port) our pages are served from; a passkey ceremony run anywhere else is refused
    /// (WebAuthn §7.1 step 9, §7.2 step 13). Default: the issuer's origin.
    /// </summary>
    public List<string> Origins { get; set; } = [];

    /// <summary>How long a challenge lives (at most <see cref="MaxChallengeLifetime"/>).</summary>
    public TimeSpan ChallengeLifetime { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>
    /// How recent the session's last sign-in must be to add or remove a passkey; older sessions confirm the password
    /// first, so a stolen cookie can't plant a key that outlives it, or strip the owner's.
    /// </summary>
    public TimeSpan RecentSignIn { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>Fills in the defaults of <see cref="PasskeyOptions"/> from the issuer, so a Development node needs no set-up.</summary>
/// <remarks>
/// Note: it reads the Server and Branding sections from configuration, not through their options: those validate
/// themselves, and a bad one must stop the node with its own message, not with a second one from here.
/// </remarks>
internal sealed class PasskeyOptionsDefaults(IConfiguration configuration) : IPostConfigureOptions<PasskeyOptions>
{
    public void PostConfigure(string? name, PasskeyOptions options)
    {
        var server = configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new();
        var productName = configuration.GetSection(Html.BrandingOptions.Section).Get<Html.BrandingOptions>()?.ProductName;
        var issuer = server.Issuer is { IsAbsoluteUri: true } configured ? configured : new Uri("http://localhost:5000/");
        // Note: browsers refuse an IP address as an RP id (WebAuthn §5.1.2 asks for a domain), so a loopback issuer
        // such as http://127.0.0.1:5000 becomes localhost, which every browser treats as a secure context.
        var host = IPAddress.TryParse(issuer.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address) ? "localhost" : issuer.IdnHost;
        options.RelyingPartyId = string.IsNullOrWhiteSpace(options.RelyingPartyId) ? host : options.RelyingPartyId.Trim();
        options.RelyingPartyName = string.IsNullOrWhiteSpace(options.RelyingPartyName) ? (string.IsNullOrWhiteSpace(productName) ? "OAuthServer" : productName) : options.RelyingPartyName.Trim();
        if (options.Origins.Count == 0)
        {
            options.Origins.Add(new UriBuilder(issuer.Scheme, host, issuer.Port).Uri.GetLeftPart(UriPartial.Authority));
        }
    }
}

/// <summary>Checks at start-up that every origin can use the RP id, so a wrong setting stops the node instead of every passkey.</summary>
internal sealed class PasskeyOptionsValidator(IHostEnvironment environment) : IValidateOptions<PasskeyOptions>
{
    public ValidateOptionsResult Validate(string? name, PasskeyOptions options)
    {
        var failures = new List<string>();
        var rpId = options.RelyingPartyId ?? string.Empty;
        if (rpId.Length is 0 or > 253 || Uri.CheckHostName(rpId) != UriHostNameType.Dns || rpId.EndsWith('.'))
        {
            failures.Add($"Passkeys:RelyingPartyId '{rpId}' must be a domain name (not an IP address, no scheme or port).");
        }

        if (options.ChallengeLifetime < TimeSpan.FromSeconds(30) || options.ChallengeLifetime > PasskeyOptions.MaxChallengeLifetime)
        {
            failures.Add("Passkeys:ChallengeLifetime must be between 00:00:30 and 00:05:00.");
        }

        if (options.RecentSignIn < TimeSpan.FromMinutes(1) || options.RecentSignIn > TimeSpan.FromHours(1))
        {
            failures.Add("Passkeys:RecentSignIn must be between 00:01:00 and 01:00:00.");
        }

        if (options.Origins.Count == 0)
        {
            failures.Add("Passkeys:Origins is empty: list the https:// origins the pages are served from.");
        }

        foreach (var origin in options.Origins)
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.GetLeftPart(UriPartial.Authority) != origin.TrimEnd('/')
                || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            {
                failures.Add($"Passkeys:Origins has '{origin}', which is not an origin (scheme://host[:port], no path).");
                continue;
            }

            // Note: WebAuthn §5.1.2: the RP id must equal the origin's host or be a registrable suffix of it.
            var host = uri.IdnHost;
            if (!string.Equals(host, rpId, StringComparison.OrdinalIgnoreCase) && !host.EndsWith("." + rpId, StringComparison.OrdinalIgnoreCase))
            {
                failures.Add($"Passkeys:Origins has '{origin}', whose host is neither the RP id '{rpId}' nor a subdomain of it.");
            }

            // Note: WebAuthn needs a secure context; plain http is one only on loopback, and only a developer's node serves it.
            if (uri.Scheme != Uri.UriSchemeHttps && !(environment.IsDevelopment() && (uri.IsLoopback || host == "localhost")))
            {
                failures.Add($"Passkeys:Origins has '{origin}': use https (plain http only for loopback in Development).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
