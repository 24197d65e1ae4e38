using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using Fido2NetLib;
using Fido2NetLib.Exceptions;
using Fido2NetLib.Objects;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;
using OAuthServer.Protocol.SingleUse;

namespace OAuthServer.Accounts.Factors;

/// <summary>What a ceremony is for; part of the sealed state's purpose, so one kind's state can't finish another.</summary>
internal enum PasskeyCeremony
{
    /// <summary>Adding a passkey to the signed-in account.</summary>
    Registration,

    /// <summary>Signing in with a passkey alone (username-less: any discoverable credential of ours).</summary>
    SignIn,

    /// <summary>A passkey as the second factor of a known person (after a password, or a step-up): only their keys.</summary>
    SecondFactor,
}

/// <summary>The outcome of finishing a ceremony: the passkey on success, or why it was refused (a factor.failed reason).</summary>
internal sealed record PasskeyOutcome(Passkey? Passkey, string? Failure)
{
    public bool Succeeded => Passkey is not null;

    public static PasskeyOutcome Refused(string reason) => new(null, reason);
}

/// <summary>The options a browser passes to <c>navigator.credentials</c>, and the sealed state it must send back.</summary>
internal sealed record PasskeyChallenge(JsonElement Options, string State);

/// <summary>
/// The WebAuthn ceremonies (W3C WebAuthn Level 3 §7): registration from the account page, and assertions for a
/// sign-in or a second factor. Signatures, origins, the RP id hash and the flags are checked by Fido2; what the
/// library leaves to the relying party is here: which credentials may answer, single-use short-lived challenges,
/// the signature counter (§6.1.1) and the record of every success and failure.
/// </summary>
/// <remarks>
/// Note: the server keeps no per-challenge state. The options go to the browser inside a Data-Protection-sealed
/// state (tamper-proof, readable by every node with the shared key ring) with an expiry; finishing spends the
/// challenge in the shared single-use ledger (<see cref="SpentIds"/>) before any check, so a replay, at this node
/// or another, fails even when the first use failed too.
/// </remarks>
internal sealed partial class PasskeyCeremonies(
    IFido2 fido2, OAuthDbContext db, SpentIds spent, IDataProtectionProvider protection, TimeProvider clock, SecurityEvents events,
    OAuthMetrics metrics, IOptions<PasskeyOptions> options, ILogger<PasskeyCeremonies> logger)
{
    /// <summary>The single-use ledger's purpose for spent challenges (at most 32 characters).</summary>
    public const string SpentPurpose = "passkey_challenge";

    /// <summary>The longest sealed state or credential JSON accepted; larger bodies are refused before parsing.</summary>
    public const int MaxStateLength = 8192;

    private const int UserHandleLength = 32;

    // WebAuthn §6.1: authenticator data is the RP id hash (32 bytes), the flags (1), the counter (4, big-endian).
    private const int FlagsOffset = 32;
    private const int CounterOffset = 33;
    private const byte UserVerifiedFlag = 0x04;

    private static readonly JsonSerializerOptions StateJson = new(JsonSerializerDefaults.Web);

    public async Task<PasskeyChallenge> BeginRegistrationAsync(User user, Guid sessionId, CancellationToken cancellationToken)
    {
        var existing = await db.Set<Passkey>().AsNoTracking().Where(row => row.UserId == user.Id)
            .Select(row => new { row.CredentialId, row.UserHandle, row.Transports }).ToListAsync(cancellationToken);
        // Note: one user handle per account, random (WebAuthn §14.6.1: never the email or anything identifying), so
        // an authenticator sees one account and replaces its old key for it instead of keeping two.
        var handle = existing.FirstOrDefault()?.UserHandle ?? RandomNumberGenerator.GetBytes(UserHandleLength);
        var created = fido2.RequestNewCredential(new RequestNewCredentialParams
        {
            User = new Fido2User { Id = handle, Name = user.Email, DisplayName = user.Email },
            // Note: an authenticator that already holds one of this account's keys says so instead of making another.
            ExcludeCredentials = [.. existing.Select(row => Descriptor(row.CredentialId, row.Transports))],
            AuthenticatorSelection = new AuthenticatorSelection
            {
                ResidentKey = ResidentKeyRequirement.Required,
                UserVerification = UserVerificationRequirement.Required,
            },
            AttestationPreference = AttestationConveyancePreference.None,
        });
        return Seal(PasskeyCeremony.Registration, user.Id, sessionId, created.Challenge, created.ToJson());
    }

    public async Task<PasskeyOutcome> FinishRegistrationAsync(
        User user, Guid sessionId, string? state, string? credentialJson, string? name, RequestOrigin origin, CancellationToken cancellationToken)
    {
        var opened = await OpenAsync(PasskeyCeremony.Registration, state);
        if (opened.Failure is { } failure || opened.State!.UserId != user.Id || opened.State.SessionId != sessionId)
        {
            // Note: a state of another account or session is a forgery or a leak: the same refusal as a bad one.
            return await RegistrationFailedAsync(user.Id, opened.Failure ?? "wrong_session", origin);
        }

        if (Parse<AuthenticatorAttestationRawResponse>(credentialJson) is not { } response)
        {
            return await RegistrationFailedAsync(user.Id, "malformed", origin);
        }

        RegisteredPublicKeyCredential credential;
        try
        {
            credential = await fido2.MakeNewCredentialAsync(new MakeNewCredentialParams
            {
                AttestationResponse = response,
                OriginalOptions = CredentialCreateOptions.FromJson(opened.State.OptionsJson),
                IsCredentialIdUniqueToUserCallback = async (candidate, token) =>
                    !await db.Set<Passkey>().AnyAsync(row => row.CredentialId == candidate.CredentialId, token),
            }, cancellationToken);
        }
        catch (Exception exception) when (IsVerificationFailure(exception))
        {
            return await RegistrationFailedAsync(user.Id, Reason(exception), origin);
        }

        var passkey = new Passkey
        {
            UserId = user.Id,
            CredentialId = credential.Id,
            PublicKey = credential.PublicKey,
            UserHandle = credential.User.Id,
            SignCount = credential.SignCount,
            AaGuid = credential.AaGuid,
            IsBackupEligible = credential.IsBackupEligible,
            IsBackedUp = credential.IsBackedUp,
            Transports = credential.Transports is { Length: > 0 } transports
                ? Truncate(string.Join(',', transports.Select(transport => transport.ToString().ToLowerInvariant())), 128)
                : null,
            AttestationFormat = Truncate(credential.AttestationFormat, 32),
            Name = CleanName(name),
            CreatedAt = clock.GetUtcNow().UtcDateTime,
        };
        db.Set<Passkey>().Add(passkey);
        events.Add(SecurityEventTypes.FactorEnrolled, origin, user.Id, new { method = "passkey", passkey_id = passkey.Id, backup_eligible = passkey.IsBackupEligible });
        try
        {
            await db.SaveChangesAsync(CancellationToken.None);
        }
        catch (DbUpdateException)
        {
            // Note: the unique index on the credential id lost a race with another registration of the same key.
            db.ChangeTracker.Clear();
            return await RegistrationFailedAsync(user.Id, "duplicate_credential", origin);
        }

        return new(passkey, null);
    }

    /// <summary>
    /// Options for an assertion: any discoverable credential (<paramref name="userId"/> null, a username-less sign-in),
    /// or only the keys of <paramref name="userId"/> (a second factor).
    /// </summary>
    public async Task<PasskeyChallenge> BeginAssertionAsync(PasskeyCeremony ceremony, Guid? userId, Guid? sessionId, CancellationToken cancellationToken)
    {
        IReadOnlyList<PublicKeyCredentialDescriptor> allowed = [];
        if (userId is { } known)
        {
            var keys = await db.Set<Passkey>().AsNoTracking().Where(row => row.UserId == known)
                .Select(row => new { row.CredentialId, row.Transports }).ToListAsync(cancellationToken);
            allowed = [.. keys.Select(row => Descriptor(row.CredentialId, row.Transports))];
        }

        var assertion = fido2.GetAssertionOptions(new GetAssertionOptionsParams
        {
            AllowedCredentials = allowed,
            UserVerification = UserVerificationRequirement.Required,
        });
        return Seal(ceremony, userId, sessionId, assertion.Challenge, assertion.ToJson());
    }

    /// <summary>
    /// Verifies an assertion. For <see cref="PasskeyCeremony.SecondFactor"/> the passkey must belong to
    /// <paramref name="expectedUserId"/> and the state must have been issued for that user (and session, if given).
    /// </summary>
    public async Task<PasskeyOutcome> FinishAssertionAsync(
        PasskeyCeremony ceremony, Guid? expectedUserId, Guid? sessionId, string? state, string? credentialJson, RequestOrigin origin,
        CancellationToken cancellationToken)
    {
        var opened = await OpenAsync(ceremony, state);
        if (opened.Failure is { } failure)
        {
            return await AssertionFailedAsync(ceremony, expectedUserId, null, failure, origin);
        }

        if (opened.State!.UserId != expectedUserId || (sessionId is not null && opened.State.SessionId != sessionId))
        {
            return await AssertionFailedAsync(ceremony, expectedUserId, null, "wrong_session", origin);
        }

        if (Parse<AuthenticatorAssertionRawResponse>(credentialJson) is not { RawId.Length: > 0, Response.AuthenticatorData.Length: > CounterOffset + 3 } response)
        {
            return await AssertionFailedAsync(ceremony, expectedUserId, null, "malformed", origin);
        }

        var credentialId = response.RawId;
        var passkey = await db.Set<Passkey>().FirstOrDefaultAsync(row => row.CredentialId == credentialId, cancellationToken);
        if (passkey is null)
        {
            return await AssertionFailedAsync(ceremony, expectedUserId, null, "unknown_credential", origin);
        }

        // Note: as a second factor only the person's own keys count, whatever the browser was offered: a key of
        // another account proves nothing about this one.
        if (expectedUserId is { } expected && passkey.UserId != expected)
        {
            return await AssertionFailedAsync(ceremony, expectedUserId, null, "wrong_user", origin);
        }

        VerifyAssertionResult verified;
        try
        {
            verified = await fido2.MakeAssertionAsync(new MakeAssertionParams
            {
                AssertionResponse = response,
                OriginalOptions = AssertionOptions.FromJson(opened.State.OptionsJson),
                StoredPublicKey = passkey.PublicKey,
                // Note: the counter is compared below, after the signature proved the assertion genuine, so a clone
                // is told apart from a forgery and raises its own event; the library's own check would do neither.
                StoredSignatureCounter = 0,
                // WebAuthn §7.2 step 6: the user handle the authenticator returned must be the one of this credential.
                IsUserHandleOwnerOfCredentialIdCallback = (candidate, _) =>
                    Task.FromResult(CryptographicOperations.FixedTimeEquals(candidate.UserHandle, passkey.UserHandle)
                        && candidate.CredentialId.AsSpan().SequenceEqual(passkey.CredentialId)),
            }, cancellationToken);
        }
        catch (Exception exception) when (IsVerificationFailure(exception))
        {
            return await AssertionFailedAsync(ceremony, passkey.UserId, passkey.Id, Reason(exception), origin);
        }

        // Note: user verification is what makes a passkey two factors (AuthenticationMethods.WithSecondFactor); the
        // library checked the flag against the options, and it is checked here again on the very bytes signed.
        if ((response.Response.AuthenticatorData[FlagsOffset] & UserVerifiedFlag) == 0)
        {
            return await AssertionFailedAsync(ceremony, passkey.UserId, passkey.Id, "user_verification", origin);
        }

        var stored = passkey.SignCount;
        var presented = (long)BinaryPrimitives.ReadUInt32BigEndian(response.Response.AuthenticatorData.AsSpan(CounterOffset, 4));
        if (IsClone(stored, presented))
        {
            return await CloneDetectedAsync(ceremony, passkey, stored, presented, origin);
        }

        // Note: a guarded update: two assertions that both passed the check above with the same counter can't both
        // commit, the second is the clone (an authenticator without a counter keeps 0, and 0 = 0 stays allowed).
        var now = clock.GetUtcNow().UtcDateTime;
        var updated = await db.Set<Passkey>().Where(row => row.Id == passkey.Id && row.SignCount == stored)
            .ExecuteUpdateAsync(set => set
                .SetProperty(row => row.SignCount, presented)
                .SetProperty(row => row.IsBackedUp, verified.IsBackedUp)
                .SetProperty(row => row.LastUsedAt, now), CancellationToken.None);
        if (updated == 0)
        {
            return await CloneDetectedAsync(ceremony, passkey, stored, presented, origin);
        }

        passkey.SignCount = presented;
        passkey.IsBackedUp = verified.IsBackedUp;
        passkey.LastUsedAt = now;
        metrics.SecondFactorVerifications.Add(1, Method, Success);
        events.Add(SecurityEventTypes.FactorVerified, origin, passkey.UserId, new { method = "passkey", passkey_id = passkey.Id, purpose = Purpose(ceremony) });
        await db.SaveChangesAsync(CancellationToken.None);
        return new(passkey, null);
    }

    /// <summary>Removes one of the person's own passkeys; false when they have none by that id.</summary>
    public async Task<bool> RemoveAsync(Guid userId, Guid passkeyId, RequestOrigin origin, CancellationToken cancellationToken)
    {
        var removed = await db.Set<Passkey>().Where(row => row.Id == passkeyId && row.UserId == userId).ExecuteDeleteAsync(cancellationToken);
        if (removed == 0)
        {
            return false;
        }

        events.Add(SecurityEventTypes.FactorRemoved, origin, userId, new { method = "passkey", passkey_id = passkeyId });
        await db.SaveChangesAsync(CancellationToken.None);
        return true;
    }

    /// <summary>
    /// WebAuthn §6.1.1: when either counter is non-zero, the new one must be greater; otherwise two authenticators hold
    /// the same key. (Both zero: the authenticator keeps no counter, as synced passkeys don't.)
    /// </summary>
    public static bool IsClone(long stored, long presented) => (stored != 0 || presented != 0) && presented <= stored;

    private async Task<PasskeyOutcome> CloneDetectedAsync(PasskeyCeremony ceremony, Passkey passkey, long stored, long presented, RequestOrigin origin)
    {
        events.Add(SecurityEventTypes.PasskeyCloneDetected, origin, passkey.UserId, new { passkey_id = passkey.Id, stored_count = stored, presented_count = presented });
        LogClone(logger, passkey.Id, passkey.UserId, stored, presented);
        return await AssertionFailedAsync(ceremony, passkey.UserId, passkey.Id, "clone_detected", origin);
    }

    private async Task<PasskeyOutcome> AssertionFailedAsync(PasskeyCeremony ceremony, Guid? userId, Guid? passkeyId, string reason, RequestOrigin origin)
    {
        metrics.SecondFactorVerifications.Add(1, Method, Failure);
        events.Add(SecurityEventTypes.FactorFailed, origin, userId, new { method = "passkey", reason, purpose = Purpose(ceremony), passkey_id = passkeyId });
        await db.SaveChangesAsync(CancellationToken.None);
        LogFailed(logger, Purpose(ceremony), reason, userId, origin.Ip);
        return PasskeyOutcome.Refused(reason);
    }

    private async Task<PasskeyOutcome> RegistrationFailedAsync(Guid userId, string reason, RequestOrigin origin)
    {
        events.Add(SecurityEventTypes.FactorFailed, origin, userId, new { method = "passkey", reason, purpose = "registration" });
        await db.SaveChangesAsync(CancellationToken.None);
        LogFailed(logger, "registration", reason, userId, origin.Ip);
        return PasskeyOutcome.Refused(reason);
    }

    private static readonly KeyValuePair<string, object?> Method = new("method", "passkey");
    private static readonly KeyValuePair<string, object?> Success = new("result", "success");
    private static readonly KeyValuePair<string, object?> Failure = new("result", "failure");

    private static string Purpose(PasskeyCeremony ceremony) => ceremony switch
    {
        PasskeyCeremony.SignIn => "first_factor",
        PasskeyCeremony.SecondFactor => "second_factor",
        _ => "registration",
    };

    private sealed record CeremonyState(Guid? UserId, Guid? SessionId, string Challenge, string OptionsJson, DateTimeOffset ExpiresAt);

    private sealed record Opened(CeremonyState? State, string? Failure);

    private IDataProtector Protector(PasskeyCeremony ceremony) =>
        protection.CreateProtector("OAuthServer.Accounts.Passkeys.Ceremony.v1", ceremony.ToString());

    private PasskeyChallenge Seal(PasskeyCeremony ceremony, Guid? userId, Guid? sessionId, byte[] challenge, string optionsJson)
    {
        var state = new CeremonyState(userId, sessionId, Base64Url.EncodeToString(challenge), optionsJson, clock.GetUtcNow() + options.Value.ChallengeLifetime);
        var sealedState = Base64Url.EncodeToString(Protector(ceremony).Protect(JsonSerializer.SerializeToUtf8Bytes(state, StateJson)));
        using var document = JsonDocument.Parse(optionsJson);
        return new(document.RootElement.Clone(), sealedState);
    }

    // Opens a sealed state and spends its challenge: refused when it is not ours (or of another ceremony), expired
    // or already spent. The spend comes first and holds whatever happens next: a challenge is good for one try.
    private async Task<Opened> OpenAsync(PasskeyCeremony ceremony, string? sealedState)
    {
        if (sealedState is not { Length: > 0 and <= MaxStateLength })
        {
            return new(null, "malformed");
        }

        CeremonyState? state;
        try
        {
            state = JsonSerializer.Deserialize<CeremonyState>(Protector(ceremony).Unprotect(Base64Url.DecodeFromChars(sealedState)), StateJson);
        }
        catch (Exception exception) when (exception is CryptographicException or FormatException or JsonException)
        {
            return new(null, "invalid_challenge");
        }

        if (state is null)
        {
            return new(null, "invalid_challenge");
        }

        if (clock.GetUtcNow() >= state.ExpiresAt)
        {
            return new(null, "expired_challenge");
        }

        if (!await spent.TrySpendAsync(SpentPurpose, ceremony.ToString(), state.Challenge, state.ExpiresAt))
        {
            return new(null, "replayed_challenge");
        }

        return new(state, null);
    }

    private static T? Parse<T>(string? json) where T : class
    {
        if (json is not { Length: > 0 and <= MaxStateLength })
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<T>(json);
        }
        catch (Exception exception) when (exception is JsonException or FormatException or NotSupportedException or ArgumentException)
        {
            return null;
        }
    }

    private static bool IsVerificationFailure(Exception exception) => exception is Fido2VerificationException or FormatException or ArgumentException
        or InvalidOperationException or CryptographicException or JsonException or System.Formats.Cbor.CborContentException or IndexOutOfRangeException
        or OverflowException or NotSupportedException or InvalidCastException;

    // The reasons of factor.failed, in the terms an operator reads.
    private static string Reason(Exception exception) => exception is Fido2VerificationException verification
        ? verification.Code switch
        {
            Fido2ErrorCode.InvalidAuthenticatorResponseOrigin or Fido2ErrorCode.MissingAuthenticatorResponseOrigin
                or Fido2ErrorCode.CrossOriginRequestNotAllowed or Fido2ErrorCode.InvalidAuthenticatorResponseTopOrigin => "wrong_origin",
            Fido2ErrorCode.InvalidRpidHash => "wrong_rp_id",
            Fido2ErrorCode.UserVerificationRequirementNotMet => "user_verification",
            Fido2ErrorCode.UserPresentFlagNotSet => "user_presence",
            Fido2ErrorCode.InvalidAuthenticatorResponseChallenge or Fido2ErrorCode.MissingAuthenticatorResponseChallenge => "wrong_challenge",
            Fido2ErrorCode.InvalidSignature => "bad_signature",
            Fido2ErrorCode.NonUniqueCredentialId => "duplicate_credential",
            _ => "invalid_response",
        }
        : "malformed";

    private static PublicKeyCredentialDescriptor Descriptor(byte[] credentialId, string? transports) =>
        new(PublicKeyCredentialType.PublicKey, credentialId, ParseTransports(transports));

    private static AuthenticatorTransport[]? ParseTransports(string? transports) =>
        transports is null ? null
        : [.. transports.Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(item => Enum.TryParse<AuthenticatorTransport>(item, ignoreCase: true, out var transport) ? (AuthenticatorTransport?)transport : null)
            .OfType<AuthenticatorTransport>()];

    /// <summary>The name a person gave, trimmed to printable characters and the column's length; a default when blank.</summary>
    public static string CleanName(string? name)
    {
        var clean = new string((name ?? string.Empty).Where(c => !char.IsControl(c)).ToArray()).Trim();
        return clean.Length == 0 ? "Passkey" : Truncate(clean, Passkey.NameLength)!;
    }

    private static string? Truncate(string? value, int length) => value is { } text && text.Length > length ? text[..length] : value;

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit factor.failed method passkey purpose {Purpose} reason {Reason} user {UserId} from {Ip}")]
    private static partial void LogFailed(ILogger logger, string purpose, string reason, Guid? userId, string? ip);

    [LoggerMessage(Level = LogLevel.Error, Message = "audit passkey.clone_detected passkey {PasskeyId} user {UserId} stored counter {Stored} presented {Presented}")]
    private static partial void LogClone(ILogger logger, Guid passkeyId, Guid userId, long stored, long presented);
}
