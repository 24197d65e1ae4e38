using OAuthServer.Accounts;
using OAuthServer.Events;
using OAuthServer.Protocol;

namespace OAuthServer.Admin;

/// <summary>
/// The admin REST API (architecture section 4). Everything under <c>/admin</c> needs an access token of this server
/// with scope <c>oauth.admin</c>: a client_credentials token, or an administrator's own token after a recent second
/// factor (<see cref="AdministratorStepUpHandler"/>); there is no anonymous endpoint. Every change is audited by
/// <see cref="AuditingInterceptor"/> under the calling client's id (and the person's, for an administrator's token).
/// </summary>
internal static partial class AdminApi
{
    public const int MaxPageSize = 500;

    /// <summary>Served at <c>/admin/openapi.json</c>.</summary>
    public const string DocumentName = "openapi";

    public static void Map(IEndpointRouteBuilder app)
    {
        // Note: deny by default: the policy is set on the whole group, so a new endpoint can't be left open.
        var admin = app.MapGroup(ProtocolPaths.Admin).RequireAuthorization(AdminScopes.AdminPolicy).RequireAuditedChanges().WithTags("admin");

        var clients = admin.MapGroup("/clients");
        clients.MapPost("/", CreateClientAsync).Audited(AuditActions.ClientCreated).WithName("CreateClient").WithSummary("Register a client; a confidential client's secret is shown once.");
        clients.MapGet("/", ListClientsAsync).WithName("ListClients").WithSummary("List clients, paged with offset and limit.");
        clients.MapGet("/{clientId}", GetClientAsync).WithName("GetClient").WithSummary("Read one client.");
        clients.MapPut("/{clientId}", UpdateClientAsync).Audited(AuditActions.ClientUpdated).WithName("UpdateClient").WithSummary("Replace a client's settings; its type and secret stay.");
        clients.MapDelete("/{clientId}", DeleteClientAsync).Audited(AuditActions.ClientDeleted).WithName("DeleteClient").WithSummary("Delete a client with its authorizations and tokens.");
        clients.MapPost("/{clientId}/secret", RotateSecretAsync).Audited(AuditActions.ClientSecretRotated).WithName("RotateClientSecret").WithSummary("Give a confidential client a new secret, shown once.");

        var users = admin.MapGroup("/users");
        users.MapPost("/", CreateUserAsync).Audited(AuditActions.UserCreated).WithName("CreateUser").WithSummary("Create a user; the password policy applies.");
        users.MapGet("/", FindUsersAsync).WithName("FindUser").WithSummary("Find a user by email.");
        users.MapGet("/{id:guid}", GetUserAsync).WithName("GetUser").WithSummary("Read one user.");
        users.MapPost("/{id:guid}/disable", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, accounts.DisableAsync, id)).Audited(AuditActions.AccountDisabled).WithName("DisableUser").WithSummary("Disable a user and revoke their tokens.");
        users.MapPost("/{id:guid}/enable", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, accounts.EnableAsync, id)).Audited(AuditActions.AccountEnabled).WithName("EnableUser").WithSummary("Enable a disabled user.");
        users.MapPost("/{id:guid}/lock", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, accounts.LockAsync, id)).Audited(AuditActions.AccountLocked).WithName("LockUser").WithSummary("Lock a user everywhere and revoke their tokens (e.g. a confirmed compromise).");
        users.MapPost("/{id:guid}/unlock", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, accounts.UnlockAsync, id)).Audited(AuditActions.AccountUnlocked).WithName("UnlockUser").WithSummary("End an operator lock and the automatic lockout.");
        users.MapPost("/{id:guid}/password", SetPasswordAsync).Audited(AuditActions.PasswordChanged).WithName("SetUserPassword").WithSummary("Set a new password; ends the user's sessions.");
        users.MapPost("/{id:guid}/factors/reset", (Guid id, HttpContext context, UserAccounts accounts, Accounts.Factors.SecondFactors factors) =>
            ChangeUserAsync(context, (user, origin, token) => accounts.ResetSecondFactorsAsync(user, factors, origin, token), id))
            .Audited(AuditActions.FactorsReset).WithName("ResetUserFactors").WithSummary("Remove every second factor and recovery code of a user; ends their sessions and revokes their tokens.");
        users.MapPost("/{id:guid}/administrator", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, (user, origin, token) => accounts.SetAdministratorAsync(user, true, origin, token), id))
            .Audited(AuditActions.AdministratorGranted).WithName("GrantAdministrator").WithSummary("Make a user an administrator: they may use this API after a recent second factor.");
        users.MapDelete("/{id:guid}/administrator", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, (user, origin, token) => accounts.SetAdministratorAsync(user, false, origin, token), id))
            .Audited(AuditActions.AdministratorRevoked).WithName("RevokeAdministrator").WithSummary("Take a user's admin access away; their admin tokens are refused from the next request.");
        users.MapDelete("/{id:guid}", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, accounts.DeleteAsync, id)).Audited(AuditActions.UserDeleted).WithName("DeleteUser").WithSummary("Delete a user and revoke their tokens.");

        var scopes = admin.MapGroup("/scopes");
        scopes.MapGet("/", ListScopesAsync).WithName("ListScopes").WithSummary("List the scopes with the words the consent page shows for them.");
        scopes.MapGet("/{name}", GetScopeAsync).WithName("GetScope").WithSummary("Read one scope's display name and description.");
        scopes.MapPut("/{name}", SetScopeWordingAsync).Audited(AuditActions.ScopeUpdated).WithName("SetScopeWording")
            .WithSummary("Replace an API scope's display name and description (with per-language variants).");

        admin.MapGet("/audit", ReadAuditAsync).WithName("ReadAudit").WithSummary("Read the audit trail, oldest first, paged.");
        app.MapOpenApi(ProtocolPaths.Admin + "/{documentName}.json").RequireAuthorization(AdminScopes.AdminPolicy);
    }

    private static RequestOrigin Origin(HttpContext context) => RequestOrigin.From(context, AuditedEndpoints.Client(context.User));
}
