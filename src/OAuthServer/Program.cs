using OAuthServer;
using OAuthServer.Cli;
using OAuthServer.Observability;

if (HealthProbe.IsProbe(args))
{
    return await HealthProbe.RunAsync(args);
}

var mode = ProgramStart.Classify(args);
if (mode is StartMode.Help or StartMode.Unknown)
{
    return await CliCommands.UsageAsync(args, Console.Out, Console.Error);
}

WebApplication app;
try
{
    var builder = WebApplication.CreateBuilder(ProgramStart.Options(args, mode));
    if (mode == StartMode.Command)
    {
        ProgramStart.QuietLogging(builder);
    }

    builder.AddOAuthServer();
    app = builder.Build();
    if (mode == StartMode.Serve)
    {
        ProgramStart.ValidateConfiguration(app.Services);
    }
}
catch (Exception exception) when (ProgramStart.IsEntryPoint && ProgramStart.ConfigurationProblems(exception) is { } problems)
{
    // Note: an operator gets each problem on its own line and a non-zero exit, not a stack trace. A host of
    // Main's own (WebApplicationFactory) gets the exception, as it would from the host's start.
    return await ProgramStart.ReportAsync(problems, Console.Error);
}

if (mode == StartMode.Command)
{
    return await CliCommands.RunAsync(app.Services, args, Console.In, Console.Out, Console.Error);
}

app.MapOAuthServer();
await app.RunAsync();
return 0;
