using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using OAuthServer.Accounts;
using OAuthServer.Events;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

/// <summary>The JSON body of <c>POST /admin/clients</c> and <c>PUT /admin/clients/{client_id}</c>.</summary>
internal sealed class ClientRequest
{
    [JsonPropertyName("client_id")]
    public string? ClientId { get; set; }

    [JsonPropertyName("display_name")]
    public string? DisplayName { get; set; }

    /// <summary><c>public</c> or <c>confidential</c>.</summary>
    [JsonPropertyName("type")]
    public string? Type { get; set; }

    /// <summary><c>web</c> (the default) or <c>native</c>.</summary>
    [JsonPropertyName("application_type")]
    public string? ApplicationType { get; set; }

    [JsonPropertyName("redirect_uris")]
    public List<string>? RedirectUris { get; set; }

    [JsonPropertyName("post_logout_redirect_uris")]
    public List<string>? PostLogoutRedirectUris { get; set; }

    /// <summary><c>authorization_code</c>, <c>refresh_token</c>, <c>client_credentials</c>.</summary>
    [JsonPropertyName("grant_types")]
    public List<string>? GrantTypes { get; set; }

    [JsonPropertyName("scopes")]
    public List<string>? Scopes { get; set; }

    /// <summary><c>explicit</c> (the default) or <c>implicit</c>.</summary>
    [JsonPropertyName("consent")]
    public string? Consent { get; set; }

    /// <summary>Seconds.</summary>
    [JsonPropertyName("access_token_lifetime")]
    public int? AccessTokenLifetime { get; set; }

    /// <summary>
    /// The registration this request asks for, or the fields that are wrong. The API never takes a secret from
    /// the caller: confidential clients get a server-generated one.
    /// </summary>
    public (ClientRegistration? Registration, List<ClientProblem> Problems) ToRegistration(string clientId, string? secret)
    {
        var problems = new List<ClientProblem>();
        var kind = Type switch
        {
            "public" => ClientKind.Public,
            "confidential" => ClientKind.Confidential,
            _ => Problem(problems, "type", "type must be 'public' or 'confidential'.", ClientKind.Public),
        };
        var applicationType = ApplicationType switch
        {
            null or "web" => ClientApplicationType.Web,
            "native" => ClientApplicationType.Native,
            _ => Problem(problems, "application_type", "application_type must be 'web' or 'native'.", ClientApplicationType.Web),
        };
        var implicitConsent = Consent switch
        {
            null or "explicit" => false,
            "implicit" => true,
            _ => Problem(problems, "consent", "consent must be 'explicit' or 'implicit'.", false),
        };

        var redirectUris = RedirectUris ?? [];
        var grants = GrantTypes ?? (redirectUris.Count > 0 ? [OpenIddictConstants.GrantTypes.AuthorizationCode, OpenIddictConstants.GrantTypes.RefreshToken] : []);
        foreach (var grant in grants.Where(grant => grant is not (OpenIddictConstants.GrantTypes.AuthorizationCode or OpenIddictConstants.GrantTypes.RefreshToken or OpenIddictConstants.GrantTypes.ClientCredentials)))
        {
            // Note: OAuth 2.1 removed the implicit and password grants; they can't be asked for.
            problems.Add(new("grant_types", $"Grant type '{grant}' is not supported: use authorization_code, refresh_token or client_credentials."));
        }

        var codeFlow = grants.Contains(OpenIddictConstants.GrantTypes.AuthorizationCode);
        if (codeFlow != redirectUris.Count > 0)
        {
            problems.Add(new("grant_types", "authorization_code needs redirect_uris, and redirect_uris need authorization_code."));
        }

        if (grants.Contains(OpenIddictConstants.GrantTypes.RefreshToken) && !codeFlow)
        {
            problems.Add(new("grant_types", "refresh_token is only issued with authorization_code."));
        }

        var registration = new ClientRegistration
        {
            ClientId = clientId,
            DisplayName = DisplayName,
            Kind = kind,
            ApplicationType = applicationType,
            Secret = kind == ClientKind.Confidential ? secret : null,
            RedirectUris = redirectUris,
            PostLogoutRedirectUris = PostLogoutRedirectUris ?? [],
            Scopes = Scopes ?? [],
            AllowClientCredentials = grants.Contains(OpenIddictConstants.GrantTypes.ClientCredentials),
            ImplicitConsent = implicitConsent,
            AccessTokenLifetime = AccessTokenLifetime is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
        };
        return (problems.Count == 0 ? registration : null, problems);
    }

    private static T Problem<T>(List<ClientProblem> problems, string field, string message, T fallback)
    {
        problems.Add(new(field, message));
        return fallback;
    }
}

internal sealed record ClientCreated(
    [property: JsonPropertyName("client_id")] string ClientId,
    [property: JsonPropertyName("client_secret")] string? ClientSecret);

internal sealed record UserRequest(
    [property: JsonPropertyName("email")] string? Email,
    [property: JsonPropertyName("password")] string? Password);

internal sealed record PasswordRequest([property: JsonPropertyName("password")] string? Password);

/// <summary>A user as the admin API shows it: never the password hash or the security stamp.</summary>
internal sealed record UserView(
    [property: JsonPropertyName("id")] Guid Id,
    [property: JsonPropertyName("email")] string Email,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("locked_until")] DateTime? LockedUntil,
    [property: JsonPropertyName("failed_login_count")] int FailedLoginCount,
    [property: JsonPropertyName("created_at")] DateTime CreatedAt,
    [property: JsonPropertyName("updated_at")] DateTime UpdatedAt)
{
    public static UserView From(User user) => new(
        user.Id, user.Email, user.Status.ToString().ToLowerInvariant(), user.LockedUntil, user.FailedLoginCount, user.CreatedAt, user.UpdatedAt);
}

internal sealed record AuditView(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("occurred_at")] DateTime OccurredAt,
    [property: JsonPropertyName("actor")] string Actor,
    [property: JsonPropertyName("action")] string Action,
    [property: JsonPropertyName("target_type")] string TargetType,
    [property: JsonPropertyName("target_id")] string TargetId,
    [property: JsonPropertyName("ip")] string? Ip,
    [property: JsonPropertyName("changes")] JsonElement Changes);

internal sealed record AuditPage(
    [property: JsonPropertyName("items")] IReadOnlyList<AuditView> Items,
    [property: JsonPropertyName("next")] string? Next);

/// <summary>
/// The admin REST API (architecture section 4). Everything under <c>/admin</c> needs a client_credentials access
/// token of this server with scope <c>oauth.admin</c>; there is no anonymous endpoint. Every change is audited
/// by <see cref="AuditingInterceptor"/> under the calling client's id.
/// </summary>
internal static class AdminApi
{
    public const int MaxPageSize = 500;

    /// <summary>Served at <c>/admin/openapi.json</c>.</summary>
    public const string DocumentName = "openapi";

    public static void Map(IEndpointRouteBuilder app)
    {
        // Note: deny by default: the policy is set on the whole group, so a new endpoint can't be left open.
        var admin = app.MapGroup("/admin").RequireAuthorization(AdminScopes.AdminPolicy).WithTags("admin");

        var clients = admin.MapGroup("/clients");
        clients.MapPost("/", CreateClientAsync).WithName("CreateClient").WithSummary("Register a client; a confidential client's secret is shown once.");
        clients.MapGet("/", ListClientsAsync).WithName("ListClients").WithSummary("List clients, paged with offset and limit.");
        clients.MapGet("/{clientId}", GetClientAsync).WithName("GetClient").WithSummary("Read one client.");
        clients.MapPut("/{clientId}", UpdateClientAsync).WithName("UpdateClient").WithSummary("Replace a client's settings; its type and secret stay.");
        clients.MapDelete("/{clientId}", DeleteClientAsync).WithName("DeleteClient").WithSummary("Delete a client with its authorizations and tokens.");
        clients.MapPost("/{clientId}/secret", RotateSecretAsync).WithName("RotateClientSecret").WithSummary("Give a confidential client a new secret, shown once.");

        var users = admin.MapGroup("/users");
        users.MapPost("/", CreateUserAsync).WithName("CreateUser").WithSummary("Create a user; the password policy applies.");
        users.MapGet("/", FindUsersAsync).WithName("FindUser").WithSummary("Find a user by email.");
        users.MapGet("/{id:guid}", GetUserAsync).WithName("GetUser").WithSummary("Read one user.");
        users.MapPost("/{id:guid}/disable", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, "user.disable", accounts.DisableAsync, id)).WithName("DisableUser").WithSummary("Disable a user and revoke their tokens.");
        users.MapPost("/{id:guid}/enable", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, "user.enable", accounts.EnableAsync, id)).WithName("EnableUser").WithSummary("Enable a disabled user.");
        users.MapPost("/{id:guid}/lock", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, "user.lock", accounts.LockAsync, id)).WithName("LockUser").WithSummary("Lock a user everywhere and revoke their tokens (e.g. a confirmed compromise).");
        users.MapPost("/{id:guid}/unlock", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, "user.unlock", accounts.UnlockAsync, id)).WithName("UnlockUser").WithSummary("End an operator lock and the automatic lockout.");
        users.MapPost("/{id:guid}/password", SetPasswordAsync).WithName("SetUserPassword").WithSummary("Set a new password; ends the user's sessions.");
        users.MapDelete("/{id:guid}", (Guid id, HttpContext context, UserAccounts accounts) =>
            ChangeUserAsync(context, "user.delete", accounts.DeleteAsync, id)).WithName("DeleteUser").WithSummary("Delete a user and revoke their tokens.");

        admin.MapGet("/audit", ReadAuditAsync).WithName("ReadAudit").WithSummary("Read the audit trail, oldest first, paged.");
        app.MapOpenApi("/admin/{documentName}.json").RequireAuthorization(AdminScopes.AdminPolicy);
    }

    /// <summary>Who is calling: the admin client's id, from its validated token.</summary>
    public static string Actor(ClaimsPrincipal principal) => principal.GetClaim(Claims.ClientId) ?? "unknown";

    private static RequestOrigin Origin(HttpContext context) => RequestOrigin.From(context, Actor(context.User));

    private static void BeginAudit(HttpContext context, string action) =>
        context.RequestServices.GetRequiredService<AuditScope>().Begin(Actor(context.User), action, context.Connection.RemoteIpAddress?.ToString());

    private static async Task<Results<Created<ClientCreated>, ValidationProblem, ProblemHttpResult>> CreateClientAsync(
        ClientRequest request, HttpContext context, ClientRegistry registry)
    {
        var clientId = string.IsNullOrWhiteSpace(request.ClientId) ? ClientRegistry.NewClientId() : request.ClientId;
        var secret = request.Type == "confidential" ? ClientRegistry.NewSecret() : null;
        var (registration, problems) = request.ToRegistration(clientId, secret);
        if (registration is null)
        {
            return Invalid(problems);
        }

        BeginAudit(context, "client.create");
        var refused = await registry.RegisterAsync(registration, Origin(context), context.RequestAborted);
        if (refused.Any(problem => problem.IsConflict))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict", detail: refused.First(problem => problem.IsConflict).Message);
        }

        return refused.Count > 0
            ? Invalid(refused)
            : TypedResults.Created($"/admin/clients/{Uri.EscapeDataString(clientId)}", new ClientCreated(clientId, secret));
    }

    private static async Task<Ok<IReadOnlyList<ClientView>>> ListClientsAsync(ClientRegistry registry, HttpContext context, int? offset, int? limit) =>
        TypedResults.Ok(await registry.ListAsync(Math.Max(0, offset ?? 0), Math.Clamp(limit ?? 100, 1, MaxPageSize), context.RequestAborted));

    private static async Task<Results<Ok<ClientView>, NotFound>> GetClientAsync(string clientId, ClientRegistry registry, HttpContext context) =>
        await registry.GetAsync(clientId, context.RequestAborted) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound();

    private static async Task<Results<Ok<ClientView>, NotFound, ValidationProblem>> UpdateClientAsync(
        string clientId, ClientRequest request, HttpContext context, ClientRegistry registry)
    {
        if (request.ClientId is not null && request.ClientId != clientId)
        {
            return Invalid([new("client_id", "client_id can't change.")]);
        }

        var (registration, problems) = request.ToRegistration(clientId, secret: null);
        if (registration is null)
        {
            return Invalid(problems);
        }

        BeginAudit(context, "client.update");
        var refused = await registry.UpdateAsync(registration, Origin(context), context.RequestAborted);
        if (refused is null)
        {
            return TypedResults.NotFound();
        }

        return refused.Count > 0 ? Invalid(refused) : TypedResults.Ok((await registry.GetAsync(clientId, context.RequestAborted))!);
    }

    private static async Task<Results<NoContent, NotFound>> DeleteClientAsync(string clientId, HttpContext context, ClientRegistry registry)
    {
        BeginAudit(context, "client.delete");
        return await registry.DeleteAsync(clientId, Origin(context), context.RequestAborted) ? TypedResults.NoContent() : TypedResults.NotFound();
    }

    private static async Task<Results<Ok<ClientCreated>, NotFound, ValidationProblem>> RotateSecretAsync(string clientId, HttpContext context, ClientRegistry registry)
    {
        BeginAudit(context, "client.rotate_secret");
        var (secret, problem) = await registry.RotateSecretAsync(clientId, Origin(context), context.RequestAborted);
        if (problem is not null)
        {
            return Invalid([problem]);
        }

        return secret is null ? TypedResults.NotFound() : TypedResults.Ok(new ClientCreated(clientId, secret));
    }

    private static async Task<Results<Created<UserView>, ValidationProblem, ProblemHttpResult>> CreateUserAsync(
        UserRequest request, HttpContext context, UserAccounts accounts)
    {
        if (string.IsNullOrEmpty(request.Email) || string.IsNullOrEmpty(request.Password))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]>
            {
                ["email"] = string.IsNullOrEmpty(request.Email) ? ["email is required."] : [],
                ["password"] = string.IsNullOrEmpty(request.Password) ? ["password is required."] : [],
            }.Where(pair => pair.Value.Length > 0).ToDictionary());
        }

        BeginAudit(context, "user.create");
        var (user, error) = await accounts.CreateAsync(request.Email, request.Password, Origin(context), context.RequestAborted);
        return error switch
        {
            null => TypedResults.Created($"/admin/users/{user!.Id}", UserView.From(user)),
            { Code: "duplicate_email" } => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict", detail: error.Message),
            { Code: "invalid_email" } => FieldProblem("email", error),
            _ => FieldProblem("password", error),
        };
    }

    private static async Task<Results<Ok<UserView[]>, ValidationProblem>> FindUsersAsync(string? email, UserAccounts accounts, HttpContext context)
    {
        if (string.IsNullOrWhiteSpace(email))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["email"] = ["Give ?email= to find a user."] });
        }

        return TypedResults.Ok(await accounts.FindByEmailAsync(email, context.RequestAborted) is { } user ? new[] { UserView.From(user) } : []);
    }

    private static async Task<Results<Ok<UserView>, NotFound>> GetUserAsync(Guid id, UserAccounts accounts, HttpContext context) =>
        await accounts.FindAsync(id, context.RequestAborted) is { } user ? TypedResults.Ok(UserView.From(user)) : TypedResults.NotFound();

    private static async Task<Results<NoContent, NotFound, ValidationProblem>> SetPasswordAsync(
        Guid id, PasswordRequest request, HttpContext context, UserAccounts accounts)
    {
        if (string.IsNullOrEmpty(request.Password))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["password"] = ["password is required."] });
        }

        BeginAudit(context, "user.set_password");
        return await accounts.SetPasswordAsync(id, request.Password, Origin(context), context.RequestAborted) switch
        {
            null => TypedResults.NoContent(),
            { Code: "not_found" } => TypedResults.NotFound(),
            var error => FieldProblem("password", error),
        };
    }

    private static async Task<Results<NoContent, NotFound>> ChangeUserAsync(
        HttpContext context, string action, Func<Guid, RequestOrigin, CancellationToken, Task<AccountError?>> change, Guid id)
    {
        BeginAudit(context, action);
        return await change(id, Origin(context), context.RequestAborted) is null ? TypedResults.NoContent() : TypedResults.NotFound();
    }

    private static async Task<Results<Ok<AuditPage>, ValidationProblem>> ReadAuditAsync(
        Data.OAuthDbContext db, HttpContext context, DateTime? since, long? after, int? limit)
    {
        var size = Math.Clamp(limit ?? 100, 1, MaxPageSize);
        var query = db.AuditLog.AsNoTracking();
        if (since is { } from)
        {
            var utc = from.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(from, DateTimeKind.Utc) : from.ToUniversalTime();
            query = query.Where(entry => entry.OccurredAt >= utc);
        }

        if (after is { } cursor)
        {
            query = query.Where(entry => entry.Id > cursor);
        }

        var rows = await query.OrderBy(entry => entry.Id).Take(size).ToListAsync(context.RequestAborted);
        var items = rows.Select(row => new AuditView(
            row.Id, row.OccurredAt, row.Actor, row.Action, row.TargetType, row.TargetId, row.Ip, ParseChanges(row.Changes))).ToList();
        var next = rows.Count == size
            ? $"/admin/audit?after={rows[^1].Id}&limit={size}" + (since is null ? string.Empty : $"&since={Uri.EscapeDataString(since.Value.ToString("O", System.Globalization.CultureInfo.InvariantCulture))}")
            : null;
        return TypedResults.Ok(new AuditPage(items, next));
    }

    private static JsonElement ParseChanges(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    public static ValidationProblem Invalid(IEnumerable<ClientProblem> problems) => TypedResults.ValidationProblem(
        problems.GroupBy(problem => problem.Field).ToDictionary(group => group.Key, group => group.Select(problem => problem.Message).ToArray()));

    private static ValidationProblem FieldProblem(string field, AccountError error) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [error.Message] }, title: error.Code);
}
