using CommandLine;

namespace RingAttention.Cli;

/// <summary>Options of <c>ringattn run</c> for timing the steady state: passes after the first, over the same inputs and workspace.</summary>
public sealed partial record RunOptions
{
    /// <summary>Most steady-state or warm-up passes.</summary>
    public const int MaxRepeats = 1000;

    /// <summary>Timed passes after the first (and after the warm-up passes).</summary>
    [Option("repeats", Default = 0,
        HelpText = "Timed forward passes after the first, over the same inputs and workspace: the first pass (JIT, page faults, thread start-up) is reported on its own, these as the steady state (best and median). 0: the first pass only.")]
    public int Repeats { get; init; }

    /// <summary>Untimed passes between the first and the timed ones.</summary>
    [Option("warmup", Default = 0, HelpText = "Untimed forward passes between the first pass and the --repeats timed ones (needs --repeats).")]
    public int Warmup { get; init; }
}
