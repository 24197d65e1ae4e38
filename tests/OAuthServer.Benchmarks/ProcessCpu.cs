using System.Globalization;

namespace OAuthServer.Benchmarks;

/// <summary>
/// CPU time a process has used (user + system, from /proc/PID/stat). Per operation it is the number that
/// survives a shared machine: other tenants steal wall-clock time, not this process's cycles.
/// </summary>
internal static class ProcessCpu
{
    public static TimeSpan Of(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // Fields after the ")" that closes the command name: state is field 3; utime and stime are 14 and 15.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
    }
}
