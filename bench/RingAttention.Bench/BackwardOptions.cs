using CommandLine;
using RingAttention.Cpu;

namespace RingAttention.Bench;

/// <summary>One backward-kernel shape, for A/B comparisons while tuning.</summary>
[Verb("backward", HelpText = "Time the backward block kernel on one shape (preprocess + all N queries against all N keys in one call).")]
internal sealed class BackwardOptions
{
    /// <summary>Sequence length.</summary>
    [Option("seq", Default = 16384, HelpText = "Sequence length N.")]
    public int SequenceLength { get; set; }

    /// <summary>Query heads.</summary>
    [Option("heads", Default = 2, HelpText = "Heads H.")]
    public int Heads { get; set; }

    /// <summary>Key/value heads (GQA); default: as many as the query heads.</summary>
    [Option("kv-heads", HelpText = "Key/value heads (GQA; default: H).")]
    public int? KvHeads { get; set; }

    /// <summary>Head dimension.</summary>
    [Option("head-dim", Default = 128, HelpText = "Head dimension D.")]
    public int HeadDim { get; set; }

    /// <summary>Causal mask.</summary>
    [Option("causal", Default = false, HelpText = "Causal mask.")]
    public bool Causal { get; set; }

    /// <summary>Kernel threads.</summary>
    [Option("threads", HelpText = "Kernel threads (default: all cores).")]
    public int? Threads { get; set; }

    /// <summary>Storage type.</summary>
    [Option("dtype", Default = ElementType.Float32, HelpText = "Float32, Float16 or BFloat16.")]
    public ElementType ElementType { get; set; }

    /// <summary>SIMD tier.</summary>
    [Option("tier", HelpText = "Vector512, Vector256 or Vector128 (default: the widest accelerated).")]
    public SimdTier? Tier { get; set; }

    /// <summary>Timed runs.</summary>
    [Option("repeats", Default = 5, HelpText = "Timed runs (each is printed; the best is summarised).")]
    public int Repeats { get; set; }
}
