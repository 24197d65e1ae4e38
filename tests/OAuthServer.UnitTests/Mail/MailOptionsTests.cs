using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using OAuthServer.Mail;

namespace OAuthServer.UnitTests.Mail;

/// <summary>The <c>Mail</c> section is checked at start-up, with messages an operator can act on.</summary>
public sealed class MailOptionsTests
{
    private static MailOptions Valid() => new() { Host = "smtp.example.com", FromAddress = "no-reply@example.com" };

    [Fact]
    public void No_host_means_no_mail_and_is_valid()
    {
        var options = new MailOptions();

        Validate(options, "Production").Succeeded.Should().BeTrue();
        options.IsConfigured.Should().BeFalse();
    }

    [Fact]
    public void Unset_security_is_StartTls_on_the_submission_port()
    {
        var options = Valid();

        Validate(options, "Production").Succeeded.Should().BeTrue();
        options.EffectiveSecurity.Should().Be(MailSecurity.StartTls);
        options.EffectivePort.Should().Be(587);
        new MailOptions { Security = MailSecurity.SslOnConnect }.EffectivePort.Should().Be(465);
    }

    [Theory]
    [InlineData(null, "Mail:FromAddress")]
    [InlineData("not an address", "Mail:FromAddress")]
    [InlineData("Two <a@example.com>, b@example.com", "Mail:FromAddress")]
    public void A_host_needs_one_sender_address(string? from, string expected)
    {
        var options = Valid();
        options.FromAddress = from;

        Validate(options, "Production").FailureMessage.Should().Contain(expected);
    }

    [Fact]
    public void A_password_in_clear_is_refused_outside_Development()
    {
        var options = Valid();
        options.Security = MailSecurity.None;
        options.Username = "mailer";
        options.Password = "smtp-secret-value";

        var production = Validate(options, "Production");

        production.Failed.Should().BeTrue();
        production.FailureMessage.Should().Contain("Mail:Security is None").And.NotContain("smtp-secret-value");
        Validate(options, "Development").Succeeded.Should().BeTrue();
    }

    [Fact]
    public void Plain_SMTP_without_credentials_may_be_chosen_explicitly()
    {
        var options = Valid();
        options.Security = MailSecurity.None;

        Validate(options, "Production").Succeeded.Should().BeTrue();
    }

    [Theory]
    [InlineData("mailer", null)]
    [InlineData(null, "secret")]
    public void Username_and_password_come_together(string? username, string? password)
    {
        var options = Valid();
        options.Username = username;
        options.Password = password;

        Validate(options, "Production").FailureMessage.Should().Contain("Mail:Username and Mail:Password");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(70000)]
    public void The_port_is_a_port(int port)
    {
        var options = Valid();
        options.Port = port;

        Validate(options, "Production").FailureMessage.Should().Contain("Mail:Port");
    }

    [Fact]
    public void The_timeout_is_bounded()
    {
        var options = Valid();
        options.Timeout = TimeSpan.Zero;

        Validate(options, "Production").FailureMessage.Should().Contain("Mail:Timeout");
    }

    private static Microsoft.Extensions.Options.ValidateOptionsResult Validate(MailOptions options, string environment) =>
        new MailOptionsValidator(new Environment(environment)).Validate(null, options);

    private sealed class Environment(string name) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = name;

        public string ApplicationName { get; set; } = "OAuthServer";

        public string ContentRootPath { get; set; } = AppContext.BaseDirectory;

        public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
    }
}
