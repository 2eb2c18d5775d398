using CommandLine;
using RingAttention.Layouts;

namespace RingAttention.Cli;

/// <summary>Options of <c>ringattn decode</c>: a ring prefill, then decode steps against the sharded KV cache.</summary>
[Verb("decode", HelpText = "Prefill a prompt around the ring, then decode against the KV cache each rank keeps (split-KV kernel, LSE merge), verifying every step against a float64 reference.")]
public sealed class DecodeOptions
{
    /// <summary>Ranks.</summary>
    [Option("ranks", Default = 4, HelpText = "Ranks P (virtual ranks in emulation; under MPI the world size).")]
    public int Ranks { get; set; }

    /// <summary>Prompt length.</summary>
    [Option("context", Default = 4096, HelpText = "Prompt tokens N prefilled around the ring.")]
    public int Context { get; set; }

    /// <summary>Decode steps.</summary>
    [Option("steps", Default = 8, HelpText = "Decode steps S.")]
    public int Steps { get; set; }

    /// <summary>New tokens per step.</summary>
    [Option("tokens-per-step", Default = 1, HelpText = "New tokens T per step (T > 1: speculative or chunked; they attend causally to each other).")]
    public int TokensPerStep { get; set; }

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

    /// <summary>Storage type.</summary>
    [Option("dtype", Default = ElementType.Float32, HelpText = "Storage type of Q, K, V, O and the cache: Float32, Float16 or BFloat16 (compute is fp32).")]
    public ElementType ElementType { get; set; }

    /// <summary>Prefill layout.</summary>
    [Option("layout", Default = LayoutKind.Zigzag, HelpText = "Layout of the prefill: contiguous, zigzag or striped (appended tokens follow --block-size).")]
    public LayoutKind Layout { get; set; }

    /// <summary>Fill the caches without the prefill forward.</summary>
    [Option("cache-only", Default = false, HelpText = "Fill each rank's cache with its layout shard of the prompt's K/V from the generator without running the prefill forward (whose outputs decode does not use): for decode-only runs at contexts whose prefill would take hours here.")]
    public bool CacheOnly { get; set; }

    /// <summary>Placement block.</summary>
    [Option("block-size", Default = 64, HelpText = "Appended tokens per placement block (round robin over the ranks by block).")]
    public int BlockSize { get; set; }

    /// <summary>Cache limit per rank.</summary>
    [Option("max-cache-tokens", HelpText = "Most tokens one rank's cache may hold (default: no limit but memory).")]
    public int? MaxCacheTokens { get; set; }

    /// <summary>Steps verified.</summary>
    [Option("verify-steps", HelpText = "Steps verified against the float64 reference over the whole cache (default: all; 0 skips).")]
    public int? VerifySteps { get; set; }

    /// <summary>Verification tolerance.</summary>
    [Option("tolerance", HelpText = "Max abs error allowed in O and LSE (default 1e-4, plus the storage type's rounding of O).")]
    public double? Tolerance { get; set; }

    /// <summary>CPU threads.</summary>
    [Option("threads", HelpText = "CPU threads for the kernels (default: all cores).")]
    public int? Threads { get; set; }

    /// <summary>Random seed.</summary>
    [Option("seed", Default = 0UL, HelpText = "Seed of the counter-based input generator.")]
    public ulong Seed { get; set; }

    /// <summary>Device backend.</summary>
    [Option("backend", Default = BackendKind.Cpu, HelpText = "Device backend of the prefill and the decode kernel: cpu, cuda (P virtual ranks on one GPU in emulation, one GPU per rank over NCCL under MPI) or auto (CUDA when usable, else CPU).")]
    public BackendKind Backend { get; set; }

    /// <summary>CUDA device ordinal.</summary>
    [Option("device", Default = 0, HelpText = "CUDA device ordinal for --backend cuda/auto in emulation.")]
    public int Device { get; set; }

    /// <summary>Where ranks live.</summary>
    [Option("transport", Default = TransportChoice.Auto, HelpText = "Where ranks live: auto (MPI when started by mpiexec/srun, else emulation), mpi or emulation.")]
    public TransportChoice Transport { get; set; }

    /// <summary>Peer timeout.</summary>
    [Option("exchange-timeout", Default = 300.0, HelpText = "Seconds an exchange or collective may wait for a peer.")]
    public double ExchangeTimeout { get; set; }

    /// <summary>Report a digest of the outputs.</summary>
    [Option("digest", Default = false, HelpText = "Report a hash (XxHash3) of every step's merged O and LSE bytes, and whether all ranks got the same bytes (to compare MPI with emulation bitwise).")]
    public bool Digest { get; set; }

    /// <summary>JSON output.</summary>
    [Option("json", Default = false, HelpText = "Print the result as JSON.")]
    public bool Json { get; set; }
}
