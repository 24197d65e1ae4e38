using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// A WebAuthn authenticator in C# (an ECDSA P-256 key, ES256), so a test controls every byte the server verifies:
/// the origin and challenge in clientDataJSON, the RP id hash, the flags and the signature counter. It answers
/// creation options with a "none" attestation (WebAuthn §8.7) and request options with a signed assertion (§6.3.3).
/// </summary>
public sealed class SoftwareAuthenticator : IDisposable
{
    private const byte UserPresent = 0x01;
    private const byte UserVerified = 0x04;
    private const byte BackupEligible = 0x08;
    private const byte BackedUp = 0x10;
    private const byte AttestedCredentialData = 0x40;

    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public SoftwareAuthenticator(string origin, string rpId = "localhost", bool backupEligible = false)
    {
        Origin = origin;
        RpId = rpId;
        IsBackupEligible = backupEligible;
    }

    public byte[] CredentialId { get; } = RandomNumberGenerator.GetBytes(16);

    /// <summary>The user handle the server gave at registration (what a discoverable credential returns).</summary>
    public byte[]? UserHandle { get; private set; }

    /// <summary>The origin the "browser" reports in clientDataJSON.</summary>
    public string Origin { get; set; }

    /// <summary>The RP id whose hash goes into the authenticator data.</summary>
    public string RpId { get; set; }

    public bool IsBackupEligible { get; }

    /// <summary>Whether the person was verified (PIN, biometrics): the UV flag.</summary>
    public bool VerifiesUser { get; set; } = true;

    /// <summary>The signature counter; incremented before each assertion unless <see cref="CountsSignatures"/> is off.</summary>
    public uint Counter { get; set; }

    public bool CountsSignatures { get; set; } = true;

    /// <summary>A copy holding the same key and credential (a cloned authenticator), with a counter of its own.</summary>
    public SoftwareAuthenticator Clone()
    {
        var clone = new SoftwareAuthenticator(Origin, RpId, IsBackupEligible) { Counter = Counter, UserHandle = UserHandle };
        clone._key.ImportParameters(_key.ExportParameters(includePrivateParameters: true));
        CredentialId.CopyTo(clone.CredentialId, 0);
        return clone;
    }

    /// <summary>The credential JSON (as the browser script sends it) for the server's creation options.</summary>
    public JsonObject Register(JsonElement options)
    {
        UserHandle = Base64Url.DecodeFromChars(options.GetProperty("user").GetProperty("id").GetString());
        var clientData = ClientData("webauthn.create", options.GetProperty("challenge").GetString()!);
        var parameters = _key.ExportParameters(includePrivateParameters: false);
        // RFC 9053 §7.1.1 / WebAuthn §6.5.1.1: an EC2 COSE key {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
        var coseKey = Cbor.Map(
            (Cbor.Int(1), Cbor.Int(2)), (Cbor.Int(3), Cbor.Int(-7)), (Cbor.Int(-1), Cbor.Int(1)),
            (Cbor.Int(-2), Cbor.Bytes(parameters.Q.X!)), (Cbor.Int(-3), Cbor.Bytes(parameters.Q.Y!)));
        var attested = new byte[16 + 2 + CredentialId.Length];
        BinaryPrimitives.WriteUInt16BigEndian(attested.AsSpan(16), (ushort)CredentialId.Length);
        CredentialId.CopyTo(attested, 18);
        var authData = AuthenticatorData((byte)(Flags() | AttestedCredentialData), Counter, [.. attested, .. coseKey]);
        var attestation = Cbor.Map((Cbor.Text("fmt"), Cbor.Text("none")), (Cbor.Text("attStmt"), Cbor.Map()), (Cbor.Text("authData"), Cbor.Bytes(authData)));
        return new JsonObject
        {
            ["id"] = Base64Url.EncodeToString(CredentialId),
            ["rawId"] = Base64Url.EncodeToString(CredentialId),
            ["type"] = "public-key",
            ["clientExtensionResults"] = new JsonObject(),
            ["response"] = new JsonObject
            {
                ["attestationObject"] = Base64Url.EncodeToString(attestation),
                ["clientDataJSON"] = Base64Url.EncodeToString(clientData),
                ["transports"] = new JsonArray("internal"),
            },
        };
    }

    /// <summary>A signed assertion for the server's request options (the challenge is taken from them unless given).</summary>
    public JsonObject Assert(JsonElement options, string? challenge = null)
    {
        if (CountsSignatures)
        {
            Counter++;
        }

        var clientData = ClientData("webauthn.get", challenge ?? options.GetProperty("challenge").GetString()!);
        var authData = AuthenticatorData(Flags(), Counter, []);
        var signature = _key.SignData([.. authData, .. SHA256.HashData(clientData)], HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return new JsonObject
        {
            ["id"] = Base64Url.EncodeToString(CredentialId),
            ["rawId"] = Base64Url.EncodeToString(CredentialId),
            ["type"] = "public-key",
            ["clientExtensionResults"] = new JsonObject(),
            ["response"] = new JsonObject
            {
                ["authenticatorData"] = Base64Url.EncodeToString(authData),
                ["clientDataJSON"] = Base64Url.EncodeToString(clientData),
                ["signature"] = Base64Url.EncodeToString(signature),
                ["userHandle"] = UserHandle is null ? null : Base64Url.EncodeToString(UserHandle),
            },
        };
    }

    public void Dispose() => _key.Dispose();

    private byte Flags() => (byte)(UserPresent | (VerifiesUser ? UserVerified : 0) | (IsBackupEligible ? BackupEligible | BackedUp : 0));

    private byte[] ClientData(string type, string challenge) =>
        Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, object> { ["type"] = type, ["challenge"] = challenge, ["origin"] = Origin, ["crossOrigin"] = false }));

    // WebAuthn §6.1: SHA-256 of the RP id, the flags, the big-endian counter, then the attested credential data.
    private byte[] AuthenticatorData(byte flags, uint counter, byte[] rest)
    {
        var counterBytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(counterBytes, counter);
        return [.. SHA256.HashData(Encoding.UTF8.GetBytes(RpId)), flags, .. counterBytes, .. rest];
    }

    /// <summary>Just enough CBOR (RFC 8949) for an attestation object and a COSE key.</summary>
    private static class Cbor
    {
        public static byte[] Int(long value) => value >= 0 ? Head(0, (ulong)value) : Head(1, (ulong)(-1 - value));

        public static byte[] Bytes(byte[] value) => [.. Head(2, (ulong)value.Length), .. value];

        public static byte[] Text(string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            return [.. Head(3, (ulong)bytes.Length), .. bytes];
        }

        public static byte[] Map(params (byte[] Key, byte[] Value)[] entries) =>
            [.. Head(5, (ulong)entries.Length), .. entries.SelectMany(entry => entry.Key.Concat(entry.Value))];

        private static byte[] Head(int major, ulong length)
        {
            var type = (byte)(major << 5);
            return length switch
            {
                < 24 => [(byte)(type | (byte)length)],
                <= byte.MaxValue => [(byte)(type | 24), (byte)length],
                _ => [(byte)(type | 25), (byte)(length >> 8), (byte)length],
            };
        }
    }
}
