using OAuthServer;
using OAuthServer.Cli;
using OAuthServer.Observability;

if (HealthProbe.IsProbe(args))
{
    return await HealthProbe.RunAsync(args);
}

var isCommand = CliCommands.IsCommand(args);
// Note: an admin verb's own options (--email, --secret-stdin...) are not host configuration.
var builder = WebApplication.CreateBuilder(isCommand ? [] : args);
builder.AddOAuthServer();
var app = builder.Build();

if (isCommand)
{
    return await CliCommands.RunAsync(app.Services, args, Console.In, Console.Out, Console.Error);
}

app.MapOAuthServer();
await app.RunAsync();
return 0;
