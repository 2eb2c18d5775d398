using CommandLine;
using RingAttention.Layouts;

namespace RingAttention.Cli;

/// <summary>Options of <c>ringattn run</c>: the problem and the report. Other concerns add theirs in RunOptions.*.cs.</summary>
[Verb("run", HelpText = "Run the ring attention forward pass (emulated ranks by default) and verify sampled rows against a float64 reference.")]
public sealed partial record RunOptions
{
    /// <summary>Ranks in the ring.</summary>
    [Option("ranks", Default = 4, HelpText = "Ranks P in the ring (virtual ranks in emulation).")]
    public int Ranks { get; init; }

    /// <summary>Global sequence length.</summary>
    [Option("seq", Default = 8192, HelpText = "Global sequence length N (any N >= 1).")]
    public int SequenceLength { get; init; }

    /// <summary>Batch size.</summary>
    [Option("batch", Default = 1, HelpText = "Batch size B.")]
    public int Batch { get; init; }

    /// <summary>Query heads.</summary>
    [Option("heads", Default = 8, HelpText = "Query heads H.")]
    public int Heads { get; init; }

    /// <summary>KV heads.</summary>
    [Option("kv-heads", HelpText = "Key/value heads (GQA/MQA); defaults to --heads.")]
    public int? KvHeads { get; init; }

    /// <summary>Head dimension.</summary>
    [Option("head-dim", Default = 64, HelpText = "Head dimension D (1 to 256).")]
    public int HeadDim { get; init; }

    /// <summary>Causal mask.</summary>
    [Option("causal", Default = false, HelpText = "Causal mask by global token position.")]
    public bool Causal { get; init; }

    /// <summary>Softmax scale.</summary>
    [Option("scale", HelpText = "Softmax scale (default 1/sqrt(head-dim)).")]
    public float? Scale { get; init; }

    /// <summary>Sequence layout.</summary>
    [Option("layout", Default = LayoutKind.Zigzag, HelpText = "Sequence layout: contiguous, zigzag or striped.")]
    public LayoutKind Layout { get; init; }

    /// <summary>CPU threads.</summary>
    [Option("threads", HelpText = "CPU threads for the kernel (default: all cores).")]
    public int? Threads { get; init; }

    /// <summary>Random seed.</summary>
    [Option("seed", Default = 0UL, HelpText = "Seed of the counter-based input generator.")]
    public ulong Seed { get; init; }

    /// <summary>Rows to verify.</summary>
    [Option("verify-rows", Default = 4, HelpText = "Sampled query rows checked against the float64 reference (0 skips).")]
    public int VerifyRows { get; init; }

    /// <summary>Verification tolerance.</summary>
    [Option("tolerance", HelpText = "Max abs error allowed in O and LSE (default 1e-4, plus the storage type's rounding of O).")]
    public double? Tolerance { get; init; }

    /// <summary>Storage type.</summary>
    [Option("dtype", Default = ElementType.Float32, HelpText = "Storage type of Q, K, V and O: Float32, Float16 or BFloat16 (compute is fp32). Default Float32; BFloat16 with --backend cuda and random inputs.")]
    public ElementType ElementType { get; init; }

    /// <summary>JSON output.</summary>
    [Option("json", Default = false, HelpText = "Print the result as JSON.")]
    public bool Json { get; init; }

    /// <summary>Stack traces of internal errors.</summary>
    [Option("verbose", Default = false, HelpText = "On an internal error (exit code 4), print the stack trace too.")]
    public bool Verbose { get; init; }

    /// <summary>Non-finite inputs are an error rather than a warning.</summary>
    [Option("check-finite", Default = false, HelpText = "Refuse inputs holding NaN or ±inf (exit code 2) instead of warning about them; NaN propagates to O and LSE as in PyTorch.")]
    public bool CheckFinite { get; init; }

    /// <summary>Write outputs even when verification fails.</summary>
    [Option("write-on-fail", Default = false, HelpText = "Write --out/--lse-out even when verification fails (by default a failed verification leaves the targets untouched).")]
    public bool WriteOnFail { get; init; }

    /// <summary>
    /// What the command line held besides values (from <see cref="CommandLineCheck"/>): the arguments, and which
    /// options were given, so that an option left at its default can be told from one given with the default's value.
    /// </summary>
    public GivenArguments Given { get; init; } = new([], new HashSet<string>());

    /// <summary>Whether <c>--<paramref name="longName"/></c> was given.</summary>
    public bool WasGiven(string longName) => Given.Options.Contains(longName);
}
