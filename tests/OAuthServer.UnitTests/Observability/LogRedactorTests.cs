using OAuthServer.Observability;

namespace OAuthServer.UnitTests.Observability;

public sealed class LogRedactorTests
{
    [Theory]
    [InlineData("{\n  \"code_verifier\": \"fmnGcCAmyGulHlNK\",\n  \"client_id\": \"app\"\n}", "fmnGcCAmyGulHlNK")]
    [InlineData("\"refresh_token\":\"abc\\\"def\"", "abc")]
    [InlineData("POST /connect/token grant_type=refresh_token&refresh_token=Zx9-secret&client_id=a", "Zx9-secret")]
    [InlineData("GET /cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz", "SplxlOBeZQQYbYS6WxSbIA")]
    [InlineData("GET /account/login?ReturnUrl=%2Fconnect%2Fverify%3Fuser_code%3DBCDFG-HJKLM%26x%3D1", "BCDFG-HJKLM")]
    [InlineData("GET /account/login?ReturnUrl=%2Fconnect%2Fverify%3fUser_Code%3dbcdfghjklm", "bcdfghjklm")]
    [InlineData("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJhbGci")]
    [InlineData("Authorization: Basic YWxpY2U6c2VjcmV0", "YWxpY2U6c2VjcmV0")]
    [InlineData("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl in the middle", "c2lnbmF0dXJl")]
    [InlineData("\"password\": \"hunter2-hunter2\"", "hunter2-hunter2")]
    public void Secrets_are_removed(string line, string secret)
    {
        var redacted = LogRedactor.Redact(line);

        redacted.Should().NotContain(secret).And.Contain(LogRedactor.Redacted);
    }

    [Theory]
    [InlineData("\"client_id\": \"app\", \"grant_type\": \"refresh_token\"")]
    [InlineData("audit login.failed user 0f8b reason wrong_password from 127.0.0.1 (curl/8.0)")]
    [InlineData("GET /connect/authorize?client_id=spa&state=xyz")]
    public void Ordinary_text_is_left_alone(string line) => LogRedactor.Redact(line).Should().Be(line);
}
