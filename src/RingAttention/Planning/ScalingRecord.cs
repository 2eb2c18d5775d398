namespace RingAttention.Planning;

/// <summary>
/// One measured ring pass of a scaling run (the bench's <c>scaling</c> mode writes these; the model reads them back).
/// </summary>
/// <param name="Mode">"emulation" (P virtual ranks in one process, one after another on all cores: the critical path is
/// what P devices as fast as this machine would take) or "mpi" (P processes sharing this machine's cores).</param>
/// <param name="Scaling">"strong" (fixed N) or "weak" (N ∝ P).</param>
/// <param name="Direction">"forward", or "backward": the backward pass alone (dQ, dK, dV from dO and the forward's O and
/// LSE; the forward that precedes it is not timed), which is what the cost model's backward predicts.</param>
/// <param name="Causal">Causal mask.</param>
/// <param name="Layout">Layout name.</param>
/// <param name="Ranks">P.</param>
/// <param name="SequenceLength">N.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads.</param>
/// <param name="HeadDim">Head dimension.</param>
/// <param name="DType">Storage type (fp32, bf16, fp16).</param>
/// <param name="ThreadsPerRank">Kernel threads each rank used.</param>
/// <param name="Oversubscribed">More processes than cores (mpi only): figures then measure time sharing too.</param>
/// <param name="WallSeconds">Wall time of the pass (emulation: all ranks one after another).</param>
/// <param name="CriticalPathSeconds">Σ over steps of the slowest rank's compute + exposed wait (backward under mpi: the
/// slowest process's backward wall time, first post to last cast, as <c>ringattn run --backward</c> reports no steps).</param>
/// <param name="ExposedSeconds">Critical path minus Σ over steps of the slowest rank's compute (backward under mpi: the most
/// exchange time one rank waited).</param>
/// <param name="ExchangeSeconds">Σ over ranks of exchange time post to completion, when the transport observes it.</param>
/// <param name="HiddenSeconds">Σ over ranks of exchange time hidden behind compute, when observed.</param>
/// <param name="BytesSent">Bytes all ranks sent (backward under mpi: P × the most one rank sent).</param>
/// <param name="RankComputeSeconds">Each rank's total compute (the layout's work balance); empty for backward mpi runs.</param>
/// <param name="Efficiency">Strong: t(P = 1) / (P·t(P)); weak: (FLOPs(N) at the P = 1 rate) / (P·t(P)); on the critical path.</param>
public sealed record ScalingRun(
    string Mode, string Scaling, string Direction, bool Causal, string Layout, int Ranks, int SequenceLength, int Heads, int KvHeads, int HeadDim,
    string DType, int ThreadsPerRank, bool Oversubscribed, double WallSeconds, double CriticalPathSeconds, double ExposedSeconds,
    double? ExchangeSeconds, double? HiddenSeconds, long BytesSent, IReadOnlyList<double> RankComputeSeconds, double Efficiency)
{
    /// <summary>The model's critical path for this run (filled in by <see cref="ScalingComparison"/>).</summary>
    public double? PredictedSeconds { get; init; }

    /// <summary>measured / predicted − 1.</summary>
    public double? PredictionError => PredictedSeconds is { } p && p > 0 ? CriticalPathSeconds / p - 1 : null;

    /// <summary>The attention problem of the run.</summary>
    public AttentionOptions Options() => new()
    {
        Heads = Heads, KvHeads = KvHeads, HeadDim = HeadDim, Causal = Causal,
        ElementType = DType switch { "bf16" => ElementType.BFloat16, "fp16" => ElementType.Float16, _ => ElementType.Float32 },
    };
}

/// <summary>A scaling run's file: the runs and the constants measured with them (kernel throughput, link bandwidths).</summary>
/// <param name="Command">The command that made it.</param>
/// <param name="Machine">CPU model, cores, runtime.</param>
/// <param name="Date">When (UTC).</param>
/// <param name="Load">Load average at the start and the end (other processes skew every figure).</param>
/// <param name="Kernel">Kernel FLOP/s at the block sizes the runs use, on all cores (masked and not).</param>
/// <param name="CopyBytesPerSecond">In-process copy bandwidth: the emulated ring's link.</param>
/// <param name="MpiBytesPerSecond">MPI bandwidth: the fastest MPI run's bytes sent ÷ exchange time (post to completion, so a lower bound); null without MPI runs.</param>
/// <param name="Cores">Cores of the machine (MPI ranks share them).</param>
/// <param name="Runs">The measured passes.</param>
public sealed record ScalingFile(
    string Command, string Machine, string Date, string Load, IReadOnlyList<KernelMeasurement> Kernel, double CopyBytesPerSecond,
    double? MpiBytesPerSecond, int Cores, IReadOnlyList<ScalingRun> Runs);
