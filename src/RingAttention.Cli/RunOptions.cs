using CommandLine;
using RingAttention.Layouts;

namespace RingAttention.Cli;

/// <summary>Options of <c>ringattn run</c>: the problem and the report. Other concerns add theirs in RunOptions.*.cs.</summary>
[Verb("run", HelpText = "Run the ring attention forward pass (emulated ranks by default) and verify sampled rows against a float64 reference.")]
public sealed partial class RunOptions
{
    /// <summary>Ranks in the ring.</summary>
    [Option("ranks", Default = 4, HelpText = "Ranks P in the ring (virtual ranks in emulation).")]
    public int Ranks { get; set; }

    /// <summary>Global sequence length.</summary>
    [Option("seq", Default = 8192, HelpText = "Global sequence length N (any N >= 1).")]
    public int SequenceLength { get; set; }

    /// <summary>Batch size.</summary>
    [Option("batch", Default = 1, HelpText = "Batch size B.")]
    public int Batch { get; set; }

    /// <summary>Query heads.</summary>
    [Option("heads", Default = 8, HelpText = "Query heads H.")]
    public int Heads { get; set; }

    /// <summary>KV heads.</summary>
    [Option("kv-heads", HelpText = "Key/value heads (GQA/MQA); defaults to --heads.")]
    public int? KvHeads { get; set; }

    /// <summary>Head dimension.</summary>
    [Option("head-dim", Default = 64, HelpText = "Head dimension D (1 to 256).")]
    public int HeadDim { get; set; }

    /// <summary>Causal mask.</summary>
    [Option("causal", Default = false, HelpText = "Causal mask by global token position.")]
    public bool Causal { get; set; }

    /// <summary>Softmax scale.</summary>
    [Option("scale", HelpText = "Softmax scale (default 1/sqrt(head-dim)).")]
    public float? Scale { get; set; }

    /// <summary>Sequence layout.</summary>
    [Option("layout", Default = LayoutKind.Zigzag, HelpText = "Sequence layout: contiguous, zigzag or striped.")]
    public LayoutKind Layout { get; set; }

    /// <summary>CPU threads.</summary>
    [Option("threads", HelpText = "CPU threads for the kernel (default: all cores).")]
    public int? Threads { get; set; }

    /// <summary>Random seed.</summary>
    [Option("seed", Default = 0UL, HelpText = "Seed of the counter-based input generator.")]
    public ulong Seed { get; set; }

    /// <summary>Rows to verify.</summary>
    [Option("verify-rows", Default = 4, HelpText = "Sampled query rows checked against the float64 reference (0 skips).")]
    public int VerifyRows { get; set; }

    /// <summary>Verification tolerance.</summary>
    [Option("tolerance", HelpText = "Max abs error allowed in O and LSE (default 1e-4, plus the storage type's rounding of O).")]
    public double? Tolerance { get; set; }

    /// <summary>Storage type.</summary>
    [Option("dtype", Default = ElementType.Float32, HelpText = "Storage type of Q, K, V and O: Float32, Float16 or BFloat16 (compute is fp32).")]
    public ElementType ElementType { get; set; }

    /// <summary>JSON output.</summary>
    [Option("json", Default = false, HelpText = "Print the result as JSON.")]
    public bool Json { get; set; }
}
