namespace OAuthServer.Benchmarks;

/// <summary>The last lines a child process wrote (stdout and stderr), to show why it stopped answering.</summary>
internal sealed class OutputTail
{
    private const int Keep = 40;
    private readonly Queue<string> _lines = new();

    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Enqueue(line);
            if (_lines.Count > Keep)
            {
                _lines.Dequeue();
            }
        }
    }

    public override string ToString()
    {
        lock (_lines)
        {
            return string.Join('\n', _lines);
        }
    }
}
