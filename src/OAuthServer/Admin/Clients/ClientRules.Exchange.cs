using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

/// <summary>The rules for a client's token-exchange targets (RFC 8693) and its refresh retry window.</summary>
internal static partial class ClientRules
{
    public const int MaxTokenExchangeAudiences = 20;

    /// <summary>The longest refresh retry window a client may be given: a retry follows a lost response at once.</summary>
    public static readonly TimeSpan MaxRefreshRetryWindow = TimeSpan.FromSeconds(60);

    private static void CheckExchange(ClientRegistration registration, ClientPolicy policy, List<Problem> problems)
    {
        if (registration.RefreshRetryWindow is { } window && (window < TimeSpan.Zero || window > MaxRefreshRetryWindow))
        {
            problems.Add(Problem.Invalid("refresh_retry_window", $"refresh_retry_window must be between 0 and {MaxRefreshRetryWindow.TotalSeconds:0} seconds."));
        }

        var audiences = registration.TokenExchangeAudiences;
        if (audiences.Count == 0)
        {
            return;
        }

        // Note: threat model 3.1: token exchange mints tokens for other services from a user's token; only an
        // operator decides which service may do that, never a self-registering client.
        if (policy.GrantTypes is { } grants && !grants.Contains(GrantTypes.TokenExchange))
        {
            problems.Add(Problem.Invalid("token_exchange_audiences", "Token exchange can only be granted by an operator.", "grant_type_not_allowed"));
            return;
        }

        // Note: RFC 8693 §2.1: the caller authenticates; a public client could be anyone holding a user's token.
        if (registration.Kind != ClientKind.Confidential)
        {
            problems.Add(Problem.Invalid("token_exchange_audiences", "Token exchange is for confidential clients only."));
        }

        if (audiences.Count > MaxTokenExchangeAudiences)
        {
            problems.Add(Problem.Invalid("token_exchange_audiences", $"token_exchange_audiences may have at most {MaxTokenExchangeAudiences} entries.", "too_many_token_exchange_audiences"));
        }

        for (var index = 0; index < audiences.Count; index++)
        {
            if (Protocol.Exchange.TokenExchangeTargets.Problem(audiences[index]) is { } problem)
            {
                problems.Add(Problem.Invalid($"token_exchange_audiences[{index}]", problem, "invalid_target"));
            }
        }
    }
}
