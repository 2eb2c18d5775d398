using System.Runtime;

namespace RingAttention.Cli;

/// <summary>
/// What this process spent during the first forward pass on things a later pass does not repeat: JIT compilation
/// (on any thread, fully optimised: the CLI runs without tiered compilation) and minor page faults (first touches of
/// fresh memory; Linux only, else null). Measured, not estimated; with <c>--repeats</c> the report shows the rest
/// of the difference to the steady state.
/// </summary>
/// <param name="JitSeconds">Seconds of JIT compilation during the pass, summed over threads.</param>
/// <param name="MethodsCompiled">Methods the JIT compiled during the pass.</param>
/// <param name="PageFaults">Minor page faults of the process during the pass, or null where /proc/self/stat is absent.</param>
internal sealed record FirstPassCosts(double JitSeconds, long MethodsCompiled, long? PageFaults)
{
    /// <summary>The counters now, to be passed to <see cref="Since"/> after the pass.</summary>
    public static FirstPassCosts Now() => new(JitInfo.GetCompilationTime().TotalSeconds, JitInfo.GetCompiledMethodCount(), MinorFaults());

    /// <summary>The counters' growth since <paramref name="start"/>.</summary>
    public static FirstPassCosts Since(FirstPassCosts start)
    {
        var now = Now();
        return new(now.JitSeconds - start.JitSeconds, now.MethodsCompiled - start.MethodsCompiled, now.PageFaults - start.PageFaults);
    }

    // Field 10 of /proc/self/stat (after the parenthesised command name, which may hold spaces): minflt.
    private static long? MinorFaults()
    {
        try
        {
            string stat = File.ReadAllText("/proc/self/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
