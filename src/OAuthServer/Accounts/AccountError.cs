namespace OAuthServer.Accounts;

/// <summary>
/// The parameter of the older <c>Cli.CliCommands.ReportAsync</c> overload that the clients verbs still call; no
/// account operation returns it (they return <see cref="Outcome"/>). It goes when that overload does.
/// </summary>
internal sealed record AccountError(string Code, string Message);
