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
    [InlineData("Request starting HTTP/1.1 GET http://127.0.0.1:5000/account/reset-password?token=q1w2E3r4T5y6U7i8O9p0-a1S2d3F4g5H6j7K8l9_z0X - - -", "q1w2E3r4T5y6U7i8O9p0")]
    [InlineData("token=q1w2E3r4T5y6U7i8O9p0-a1S2d3F4g5H6j7K8l9_z0X&password=new-passphrase-1&confirmPassword=new-passphrase-1", "new-passphrase-1")]
    [InlineData("token=q1w2E3r4T5y6U7i8O9p0-a1S2d3F4g5H6j7K8l9_z0X&password=new-passphrase-1&confirmPassword=new-passphrase-1", "q1w2E3r4T5y6U7i8O9p0")]
    [InlineData("GET /account/login?ReturnUrl=%2Faccount%2Freset-password%3Ftoken%3Dq1w2E3r4T5y6U7i8O9p0", "q1w2E3r4T5y6U7i8O9p0")]
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
