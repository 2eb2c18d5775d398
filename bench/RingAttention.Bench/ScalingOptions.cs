using CommandLine;
using RingAttention.Cpu;
using RingAttention.Layouts;

namespace RingAttention.Bench;

/// <summary>Where a scaling run's ranks live.</summary>
internal enum ScalingMode
{
    /// <summary>P virtual ranks in this process, one after another on all cores; the critical path is the P-device time.</summary>
    Emulation,

    /// <summary>P <c>ringattn</c> processes under mpiexec on this machine, sharing its cores.</summary>
    Mpi,
}

/// <summary>Which scaling.</summary>
internal enum ScalingKind
{
    /// <summary>Fixed N, growing P.</summary>
    Strong,

    /// <summary>N ∝ P (fixed tokens per rank).</summary>
    Weak,
}

/// <summary>The attention mask of a scaling case.</summary>
internal enum ScalingMask
{
    /// <summary>No mask.</summary>
    Full,

    /// <summary>Causal.</summary>
    Causal,
}

/// <summary>Strong and weak scaling, per layout and mask, in emulation and under mpiexec; files under --out.</summary>
[Verb("scaling", HelpText = "Strong (fixed N) and weak (N ∝ P) scaling per layout and mask, emulation and mpiexec, with the cost model's predictions: scaling.json, scaling.md and PNG plots under --out.")]
internal sealed class ScalingOptions
{
    /// <summary>Output folder, when given.</summary>
    [Option("out", HelpText = "Folder for scaling.json, scaling.md and the scaling-*.png plots (default bench/results/<this machine>, next to the bench's results.json).")]
    public string? OutFolder { get; set; }

    /// <summary>Where the files go: --out, else this machine's folder under bench/results.</summary>
    public string Out => OutFolder ?? RingAttention.Cpu.MachineIdentity.ThisMachineResultsFolder();

    /// <summary>N for strong scaling.</summary>
    [Option("seq", Default = 65536, HelpText = "Sequence length N of the strong-scaling runs.")]
    public int SequenceLength { get; set; }

    /// <summary>Tokens per rank for weak scaling.</summary>
    [Option("tokens-per-rank", Default = 8192, HelpText = "Tokens per rank of the weak-scaling runs (N = this × P).")]
    public int TokensPerRank { get; set; }

    /// <summary>Ring sizes.</summary>
    [Option("ranks", Separator = ',', Default = new[] { 1, 2, 4, 8 }, HelpText = "Ring sizes P (comma-separated; 1 is the baseline and always run).")]
    public IEnumerable<int> Ranks { get; set; } = [];

    /// <summary>Scalings to run.</summary>
    [Option("scalings", Separator = ',', Default = new[] { ScalingKind.Strong, ScalingKind.Weak }, HelpText = "strong, weak (comma-separated).")]
    public IEnumerable<ScalingKind> Scalings { get; set; } = [];

    /// <summary>Masks.</summary>
    [Option("masks", Separator = ',', Default = new[] { ScalingMask.Full, ScalingMask.Causal }, HelpText = "full, causal (comma-separated).")]
    public IEnumerable<ScalingMask> Masks { get; set; } = [];

    /// <summary>Layouts.</summary>
    [Option("layouts", Separator = ',', Default = new[] { LayoutKind.Contiguous, LayoutKind.Zigzag, LayoutKind.Striped }, HelpText = "contiguous, zigzag, striped (comma-separated).")]
    public IEnumerable<LayoutKind> Layouts { get; set; } = [];

    /// <summary>Modes.</summary>
    [Option("modes", Separator = ',', Default = new[] { ScalingMode.Emulation, ScalingMode.Mpi }, HelpText = "emulation, mpi (comma-separated).")]
    public IEnumerable<ScalingMode> Modes { get; set; } = [];

    /// <summary>mpiexec of the MPI runs.</summary>
    [Option("mpiexec", Default = "mpiexec.openmpi", HelpText = "The mpiexec the MPI runs use (through launch/mpirun.sh).")]
    public string Mpiexec { get; set; } = "mpiexec.openmpi";

    /// <summary>Query heads.</summary>
    [Option("heads", Default = 1, HelpText = "Query heads H.")]
    public int Heads { get; set; }

    /// <summary>Key/value heads.</summary>
    [Option("kv-heads", HelpText = "Key/value heads (default: --heads).")]
    public int? KvHeads { get; set; }

    /// <summary>Head dimension.</summary>
    [Option("head-dim", Default = 64, HelpText = "Head dimension D.")]
    public int HeadDim { get; set; }

    /// <summary>Storage type.</summary>
    [Option("dtype", Default = ElementType.Float32, HelpText = "Float32, Float16 or BFloat16.")]
    public ElementType ElementType { get; set; }

    /// <summary>Timed runs per case.</summary>
    [Option("repeats", Default = 3, HelpText = "Timed runs per case, in rounds over all cases (the best is reported).")]
    public int Repeats { get; set; }

    /// <summary>Also time every case's backward pass (alone, as the cost model predicts it).</summary>
    [Option("backward", Default = false, HelpText = "Also time every case's backward pass alone (dQ, dK, dV after an untimed forward; mpi: ringattn run --backward), next to the forward rows, with the backward kernel's FLOP/s measured for the model's prediction.")]
    public bool Backward { get; set; }
}
