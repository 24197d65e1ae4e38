using System.Text.RegularExpressions;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol.Exchange;

/// <summary>
/// Where a client's token-exchange targets are kept: as OpenIddict permissions of the client, the token-exchange
/// grant itself and one <c>aud:</c> (an audience name, RFC 8693 <c>audience</c>) or <c>rsrc:</c> (an absolute URI,
/// RFC 8707 <c>resource</c>) permission per target. OpenIddict's own audience and resource permission checks
/// read the same entries, so the list is enforced twice from one source.
/// </summary>
internal static partial class TokenExchangeTargets
{
    /// <summary>Why <paramref name="target"/> can't be a token-exchange target, or null.</summary>
    public static string? Problem(string target)
    {
        if (IsResource(target))
        {
            return !Uri.TryCreate(target, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || target.Contains('#', StringComparison.Ordinal)
                ? $"Resource '{target}' must be an absolute http(s) URI without a fragment (RFC 8707 §2)."
                : null;
        }

        if (!AudiencePattern().IsMatch(target))
        {
            return $"Audience '{target}' must be 1 to 100 characters of letters, digits, '.', '_', '-' or ':', or an absolute https URI.";
        }

        // Note: threat model 3.1: tokens for this server's own APIs come from client_credentials only.
        return string.Equals(target, Admin.AdminScopes.Audience, StringComparison.Ordinal)
            ? $"Audience '{target}' is this server's own API: tokens for it are never minted by exchange."
            : null;
    }

    public static bool IsResource(string target) => target.Contains("://", StringComparison.Ordinal);

    /// <summary>The permissions that allow token exchange to <paramref name="targets"/>.</summary>
    public static IEnumerable<string> Permissions(IEnumerable<string> targets)
    {
        var any = false;
        foreach (var target in targets.Distinct(StringComparer.Ordinal))
        {
            any = true;
            yield return (IsResource(target) ? OpenIddictConstants.Permissions.Prefixes.Resource : OpenIddictConstants.Permissions.Prefixes.Audience) + target;
        }

        if (any)
        {
            yield return OpenIddictConstants.Permissions.GrantTypes.TokenExchange;
        }
    }

    /// <summary>The targets a client's permissions allow, in the order they were registered.</summary>
    public static IReadOnlyList<string> Of(IEnumerable<string> permissions)
    {
        var targets = new List<string>();
        foreach (var permission in permissions)
        {
            if (permission.StartsWith(OpenIddictConstants.Permissions.Prefixes.Audience, StringComparison.Ordinal))
            {
                targets.Add(permission[OpenIddictConstants.Permissions.Prefixes.Audience.Length..]);
            }
            else if (permission.StartsWith(OpenIddictConstants.Permissions.Prefixes.Resource, StringComparison.Ordinal))
            {
                targets.Add(permission[OpenIddictConstants.Permissions.Prefixes.Resource.Length..]);
            }
        }

        return targets;
    }

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,100}$")]
    private static partial Regex AudiencePattern();
}
