using CommandLine;
using RingAttention.Cpu;

namespace RingAttention.Cli;

/// <summary>The attention mask a plan is made for.</summary>
public enum PlanMask
{
    /// <summary>Causal (language-model prefill and training).</summary>
    Causal,

    /// <summary>No mask (every query sees every key).</summary>
    Full,
}

/// <summary>Options of <c>ringattn plan</c>.</summary>
[Verb("plan", HelpText = "Plan a ring: memory per rank, smallest P, overlap conditions, layout, predicted time on a GPU cluster (datasheet or measured figures).")]
public sealed class PlanOptions
{
    /// <summary>Global sequence length N.</summary>
    [Option("seq", Required = true, HelpText = "Global sequence length N.")]
    public int SequenceLength { get; set; }

    /// <summary>Batch size B.</summary>
    [Option("batch", Default = 1, HelpText = "Batch size B.")]
    public int Batch { get; set; }

    /// <summary>Query heads H.</summary>
    [Option("heads", Required = true, HelpText = "Query heads H.")]
    public int Heads { get; set; }

    /// <summary>Key/value heads; defaults to --heads.</summary>
    [Option("kv-heads", HelpText = "Key/value heads (GQA/MQA); defaults to --heads.")]
    public int? KvHeads { get; set; }

    /// <summary>Head dimension D.</summary>
    [Option("head-dim", Required = true, HelpText = "Head dimension D (1 to 256).")]
    public int HeadDim { get; set; }

    /// <summary>Storage type.</summary>
    [Option("dtype", Default = ElementType.BFloat16, HelpText = "Storage type of Q, K, V and O: BFloat16, Float16 or Float32.")]
    public ElementType ElementType { get; set; }

    /// <summary>Mask.</summary>
    [Option("mask", Default = PlanMask.Causal, HelpText = "causal (default) or full.")]
    public PlanMask Mask { get; set; }

    /// <summary>Device preset key, or cpu for this machine's measured bench figures.</summary>
    [Option("device", Default = "h100-sxm", HelpText = "a100, h100-sxm, h800, h200, b200 (datasheet), or cpu (the bench's measured figures, see --bench-results).")]
    public string Device { get; set; } = "h100-sxm";

    /// <summary>Link preset key.</summary>
    [Option("link", Default = "nvlink", HelpText = "nvlink (the device's generation), nvlink3/4/5, ib-ndr, ib-hdr, ib-edr, ethernet, or mpi (measured, see --scaling-results).")]
    public string Link { get; set; } = "nvlink";

    /// <summary>Link a ring longer than one node crosses in the ten-million-token question.</summary>
    [Option("inter-node-link", Default = "ib-ndr", HelpText = "Link between nodes for rings longer than --gpus-per-node in the ten-million-token answer.")]
    public string InterNodeLink { get; set; } = "ib-ndr";

    /// <summary>GPUs per node.</summary>
    [Option("gpus-per-node", Default = 8, HelpText = "GPUs per node (rings longer than this cross --inter-node-link).")]
    public int GpusPerNode { get; set; }

    /// <summary>A fixed P.</summary>
    [Option("ranks", HelpText = "Predict this P only (default: the smallest P that fits, and powers of two above it).")]
    public int? Ranks { get; set; }

    /// <summary>Causal sliding window.</summary>
    [Option("window", HelpText = "Causal sliding window W: each query sees its W most recent keys (itself included); the ring still passes every block.")]
    public int? Window { get; set; }

    /// <summary>Include the backward pass (modelled).</summary>
    [Option("backward", Default = false, HelpText = "Include the backward pass (modelled: 2.5x forward FLOPs, K/V plus fp32 dK/dV travel).")]
    public bool Backward { get; set; }

    /// <summary>Attention layers per pass.</summary>
    [Option("layers", Default = 1, HelpText = "Attention layers per pass: times are per layer and also totalled over this many.")]
    public int Layers { get; set; }

    /// <summary>Fraction of device memory one layer's attention tensors may use.</summary>
    [Option("memory-fraction", Default = 0.9, HelpText = "Fraction of device memory one layer's attention tensors may use (the rest: weights, other activations, the CUDA context).")]
    public double MemoryFraction { get; set; }

    /// <summary>Bench results for --device cpu (default: this machine's, bench/results/&lt;machine&gt;/results.json).</summary>
    [Option("bench-results", HelpText = "The bench's results.json, read for --device cpu (default: this machine's, bench/results/<cpu model and cores>/results.json).")]
    public string BenchResults { get; set; } = Path.Combine(MachineIdentity.ThisMachineResultsFolder(), "results.json");

    /// <summary>A GPU self-test report whose measured kernel figures replace the device's datasheet throughput.</summary>
    [Option("gpu-report", HelpText = "A launch/gpu-selftest.sh report: its measured bench-gpu TFLOP/s replace the device's datasheet figures.")]
    public string? GpuReport { get; set; }

    /// <summary>Achieved forward kernel TFLOP/s replacing the preset's published-kernel fraction (for what-ifs such as FlashAttention-3).</summary>
    [Option("kernel-tflops", HelpText = "Forward kernel TFLOP/s to assume instead of the preset's FlashAttention-2 figure (the backward keeps the preset's backward/forward ratio); e.g. the device's peak for Ring Attention's c >= F/B.")]
    public double? KernelTflops { get; set; }

    /// <summary>A scaling run's JSON for --link mpi.</summary>
    [Option("scaling-results", HelpText = "A scaling run's JSON, read for --link mpi (measured MPI bandwidth; default: this machine's, bench/results/<cpu model and cores>/scaling.json).")]
    public string ScalingResults { get; set; } = Path.Combine(MachineIdentity.ThisMachineResultsFolder(), "scaling.json");

    /// <summary>JSON output.</summary>
    [Option("json", Default = false, HelpText = "Print the plan as JSON.")]
    public bool Json { get; set; }
}
