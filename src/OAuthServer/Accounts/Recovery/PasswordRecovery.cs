using Microsoft.Extensions.Options;
using OAuthServer.Mail;
using OAuthServer.Protocol;

namespace OAuthServer.Accounts.Recovery;

/// <summary>
/// Password reset by e-mail: the forgot-password and reset pages, the link store, and the queue and mailer behind
/// them. <see cref="IsAvailable"/> tells other pages (the sign-in form's link) whether to offer it.
/// </summary>
internal static class PasswordRecovery
{
    /// <summary>True when mail is configured, so the forgot-password page can send links.</summary>
    public static bool IsAvailable(IServiceProvider services) => services.GetRequiredService<SmtpMailSender>().IsConfigured;

    public static IHostApplicationBuilder AddOAuthPasswordRecovery(this IHostApplicationBuilder builder)
    {
        builder.AddOAuthMail();
        builder.Services.AddOptions<PasswordResetOptions>().BindConfiguration(PasswordResetOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<PasswordResetOptions>, PasswordResetOptionsValidator>();
        builder.Services.AddScoped<PasswordResetTokens>();
        builder.Services.AddSingleton<PasswordResetQueue>();
        builder.Services.AddHostedService<PasswordResetMailer>();
        builder.Services.AddScoped<Data.IPruningTask, PasswordResetPruningTask>();
        return builder;
    }

    public static IEndpointRouteBuilder MapPasswordRecovery(this IEndpointRouteBuilder app)
    {
        app.MapGet(ProtocolPaths.ForgotPassword, ForgotPasswordPage.Show)
            .WithName("ForgotPasswordPage").WithSummary("Asks for the address to send a reset link to.");
        app.MapPost(ProtocolPaths.ForgotPassword, ForgotPasswordPage.RequestAsync)
            .WithName("ForgotPassword").WithSummary("Queues a reset link; the same answer for every address.");
        app.MapGet(ProtocolPaths.ResetPassword, ResetPasswordPage.ShowAsync)
            .WithName("ResetPasswordPage").WithSummary("The form of a mailed reset link; opening it spends nothing.");
        app.MapPost(ProtocolPaths.ResetPassword, ResetPasswordPage.ResetAsync)
            .WithName("ResetPassword").WithSummary("Redeems a reset link once and sets the new password.");
        return app;
    }
}
