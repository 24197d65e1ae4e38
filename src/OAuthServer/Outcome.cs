namespace OAuthServer;

/// <summary>What kind of refusal a <see cref="Problem"/> is; it decides the HTTP status and the CLI exit code.</summary>
internal enum ProblemKind
{
    /// <summary>The request itself is wrong (a field fails a rule): 400, exit code 1.</summary>
    Invalid,

    /// <summary>The thing named does not exist: 404, exit code 1.</summary>
    NotFound,

    /// <summary>The request clashes with what exists (a taken email or client_id): 409, exit code 1.</summary>
    Conflict,
}

/// <summary>
/// Why the domain refused an operation: its kind, a stable machine code, the request field it is about (if any),
/// and words a person can act on. Never carries a secret.
/// </summary>
internal sealed record Problem(ProblemKind Kind, string Code, string Message, string? Field = null)
{
    public static Problem Invalid(string field, string message, string? code = null) =>
        new(ProblemKind.Invalid, code ?? "invalid_" + field, message, field);

    public static Problem NotFound(string message) => new(ProblemKind.NotFound, "not_found", message);

    public static Problem Conflict(string field, string message, string? code = null) =>
        new(ProblemKind.Conflict, code ?? field + "_taken", message, field);

    public override string ToString() => Message;
}

/// <summary>
/// The one result shape of the domain layer: success, or the problems that refused it. The admin API turns it into
/// an HTTP result in one place (<c>Admin.ProblemResults</c>) and the CLI into an exit code in one place
/// (<c>Cli.CliCommands.ReportAsync</c>).
/// </summary>
internal class Outcome
{
    protected Outcome(IReadOnlyList<Problem> problems) => Problems = problems;

    public static Outcome Success { get; } = new([]);

    public IReadOnlyList<Problem> Problems { get; }

    public bool Succeeded => Problems.Count == 0;

    /// <summary>The first problem; only for a failed outcome.</summary>
    public Problem Problem => Succeeded ? throw new InvalidOperationException("A successful outcome has no problem.") : Problems[0];

    public static Outcome Failed(IReadOnlyList<Problem> problems) =>
        problems.Count > 0 ? new(problems) : throw new ArgumentException("A failed outcome needs a problem.", nameof(problems));

    public static implicit operator Outcome(Problem problem) => new([problem]);
}

/// <summary>A <see cref="Outcome"/> that carries a value on success.</summary>
internal sealed class Outcome<T> : Outcome
{
    private readonly T? _value;

    private Outcome(T value)
        : base([]) => _value = value;

    private Outcome(IReadOnlyList<Problem> problems)
        : base(problems)
    {
    }

    /// <summary>The value; only for a successful outcome.</summary>
    public T Value => Succeeded ? _value! : throw new InvalidOperationException($"A failed outcome has no value: {Problem.Message}");

    public static new Outcome<T> Failed(IReadOnlyList<Problem> problems) =>
        problems.Count > 0 ? new(problems) : throw new ArgumentException("A failed outcome needs a problem.", nameof(problems));

    public static implicit operator Outcome<T>(T value) => new(value);

    public static implicit operator Outcome<T>(Problem problem) => new([problem]);
}
