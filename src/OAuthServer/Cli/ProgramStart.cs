using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace OAuthServer.Cli;

/// <summary>What the command line asks the binary to do.</summary>
internal enum StartMode
{
    /// <summary>Serve: no arguments, or host configuration only (<c>--urls …</c>, <c>--Server:Issuer=…</c>).</summary>
    Serve,

    /// <summary>One of the admin verbs.</summary>
    Command,

    /// <summary><c>--help</c>, <c>-h</c>, <c>help [verb]</c> or <c>--version</c>: print and exit, nothing is configured.</summary>
    Help,

    /// <summary>A first word that is neither a verb nor a setting: a typo must not start a server.</summary>
    Unknown,
}

/// <summary>
/// The start of the binary: which mode the arguments ask for, where the content root is, how quiet an admin verb's
/// logging is, and how a configuration that can't start is reported (one line per problem, no stack trace).
/// </summary>
internal static class ProgramStart
{
    private static readonly HashSet<string> HelpWords = new(StringComparer.Ordinal) { "help", "--help", "-h", "-?", "/?", "/h", "--version" };

    /// <summary>Whether this binary is the process (and not hosted by a test's WebApplicationFactory).</summary>
    public static bool IsEntryPoint => System.Reflection.Assembly.GetEntryAssembly() == typeof(ProgramStart).Assembly;

    public static StartMode Classify(string[] args)
    {
        if (args.Length == 0)
        {
            return StartMode.Serve;
        }

        if (HelpWords.Contains(args[0]))
        {
            return StartMode.Help;
        }

        if (CliCommands.IsCommand(args))
        {
            return StartMode.Command;
        }

        // Note: host configuration on the command line is --key value, --key=value, /key value or key=value
        // (CommandLineConfigurationProvider); a bare first word is none of those, so it is a mistyped verb.
        return args[0].StartsWith('-') || args[0].StartsWith('/') || args[0].Contains('=', StringComparison.Ordinal)
            ? StartMode.Serve
            : StartMode.Unknown;
    }

    /// <summary>
    /// The content root (appsettings.json, the relative data/ and key folders) is the binary's folder unless it is
    /// set explicitly (<c>--contentRoot</c>, <c>ASPNETCORE_CONTENTROOT</c>, <c>DOTNET_CONTENTROOT</c>). The working
    /// directory would make a binary started from elsewhere run without its own settings (its log levels among them).
    /// </summary>
    public static WebApplicationOptions Options(string[] args, StartMode mode)
    {
        // Note: an admin verb's own options (--email, --secret-stdin...) are not host configuration.
        var hostArgs = mode == StartMode.Command ? [] : args;
        var explicitRoot = new ConfigurationBuilder()
            .AddEnvironmentVariables("DOTNET_")
            .AddEnvironmentVariables("ASPNETCORE_")
            .AddCommandLine(hostArgs)
            .Build()[HostDefaults.ContentRootKey];
        return new WebApplicationOptions
        {
            Args = hostArgs,
            ContentRootPath = string.IsNullOrEmpty(explicitRoot) ? AppContext.BaseDirectory : null,
        };
    }

    /// <summary>
    /// An admin verb's output is for people and scripts: logs go to standard error, and only warnings and errors
    /// unless the environment asks for more (<c>Logging__LogLevel__Default=Information</c>).
    /// </summary>
    public static void QuietLogging(WebApplicationBuilder builder)
    {
        // Note: placed after the appsettings files and before the environment variables, so it outranks
        // appsettings.json's Information but not an operator's explicit setting.
        var sources = builder.Configuration.Sources;
        var afterFiles = sources.Select((source, index) => (source, index)).LastOrDefault(item => item.source is JsonConfigurationSource).index + 1;
        sources.Insert(afterFiles, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Warning",
                // Note: a verb reports a failed database call itself, in one line; EF would log it again, with a stack trace.
                ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "None",
            },
        });
        builder.Services.PostConfigure<ConsoleLoggerOptions>(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
    }

    /// <summary>
    /// Runs the checks the host would run at start (ValidateOnStart, a key folder with usable keys) before it starts,
    /// so that a bad configuration stops here, reported by <see cref="ConfigurationProblems"/>, instead of inside the
    /// host, which logs the exception with its stack trace.
    /// </summary>
    public static void ValidateConfiguration(IServiceProvider services)
    {
        // Note: every check runs, so an operator fixing a deployment sees every problem at once, not one per start.
        List<Exception> failures = [];
        Check(failures, () => services.GetService<IStartupValidator>()?.Validate());
        Check(failures, () => services.GetRequiredService<Keys.KeyRing>().EnsureUsable());
        if (failures.Count > 0)
        {
            throw failures.Count == 1 ? failures[0] : new AggregateException(failures);
        }
    }

    private static void Check(List<Exception> failures, Action check)
    {
        try
        {
            check();
        }
        catch (Exception exception) when (ConfigurationProblems(exception) is not null)
        {
            failures.Add(exception);
        }
    }

    /// <summary>
    /// The problems of a configuration that can't start, one sentence each; or nothing when the exception is not a
    /// configuration problem (a bug keeps its stack trace).
    /// </summary>
    public static IReadOnlyList<string>? ConfigurationProblems(Exception exception) => exception switch
    {
        OptionsValidationException validation => [.. validation.Failures],
        AggregateException aggregate when aggregate.InnerExceptions.Select(ConfigurationProblems).ToList() is var inner && inner.All(item => item is not null)
            => [.. inner.SelectMany(item => item!)],
        // Note: a setting that doesn't bind (a bad TimeSpan), a bad command-line switch, or a check of our own at
        // registration (Postgres without a connection string) throws one of these with a sentence for the operator.
        InvalidOperationException or FormatException => [exception.InnerException is { } inner && exception.Message.Contains(inner.Message, StringComparison.Ordinal)
            ? exception.Message
            : exception.InnerException is { } cause ? $"{exception.Message} ({cause.Message})" : exception.Message],
        _ => null,
    };

    public static async Task<int> ReportAsync(IReadOnlyList<string> problems, TextWriter error)
    {
        foreach (var problem in problems.Distinct(StringComparer.Ordinal))
        {
            await error.WriteLineAsync($"error: {problem}");
        }

        return 1;
    }
}
