using CommandLine;

namespace RingAttention.Bench;

/// <summary>The decode sweep: per-token latency against context length and ranks, kernel bandwidth, and ring decoding for comparison.</summary>
[Verb("decode", HelpText = "Decode against the sharded KV cache in emulation (CPU): per-token latency vs total context and P, the local kernel's GB/s as % of a bandwidth probe run in the same process, and the same decode done by passing the cache around the ring.")]
internal sealed class DecodeBenchOptions
{
    /// <summary>Total context lengths.</summary>
    [Option("contexts", Separator = ',', Default = new[] { 65536, 262144, 1048576, 4194304 }, HelpText = "Total context lengths N (comma-separated), split over the ranks.")]
    public IEnumerable<int> Contexts { get; set; } = [];

    /// <summary>Rank counts.</summary>
    [Option("ranks", Separator = ',', Default = new[] { 1, 2, 4, 8 }, HelpText = "Rank counts P (comma-separated), emulated in this process.")]
    public IEnumerable<int> Ranks { get; set; } = [];

    /// <summary>Timed steps per case.</summary>
    [Option("steps", Default = 8, HelpText = "Timed decode steps per case (after one untimed warm-up step).")]
    public int Steps { get; set; }

    /// <summary>New tokens per step.</summary>
    [Option("tokens-per-step", Default = 1, HelpText = "New tokens T per step.")]
    public int TokensPerStep { get; set; }

    /// <summary>Query heads.</summary>
    [Option("heads", Default = 8, HelpText = "Query heads H.")]
    public int Heads { get; set; }

    /// <summary>KV heads.</summary>
    [Option("kv-heads", Default = 1, HelpText = "Key/value heads.")]
    public int KvHeads { get; set; }

    /// <summary>Head dimension.</summary>
    [Option("head-dim", Default = 128, HelpText = "Head dimension D.")]
    public int HeadDim { get; set; }

    /// <summary>Storage type of the cache.</summary>
    [Option("dtype", Default = ElementType.BFloat16, HelpText = "Storage type of the cache: Float32, Float16 or BFloat16.")]
    public ElementType ElementType { get; set; }

    /// <summary>Kernel threads.</summary>
    [Option("threads", HelpText = "Decode-kernel threads per rank (default: all cores).")]
    public int? Threads { get; set; }

    /// <summary>Skip the ring comparison.</summary>
    [Option("no-ring", Default = false, HelpText = "Skip decoding by passing the cache around the ring.")]
    public bool NoRing { get; set; }
}
