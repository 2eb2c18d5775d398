namespace RingAttention.Bench;

/// <summary>The FMA peak on a number of threads.</summary>
internal sealed record PeakResult(int Threads, double Gflops);

/// <summary>One block-kernel case and its best time.</summary>
internal sealed record KernelResult(
    string DType, int N, int Heads, int HeadDim, bool Causal, int Threads, double Seconds, double CpuSeconds, double Gflops, double PercentOfPeak);

/// <summary>Whether a peer (PyTorch, ONNX Runtime) ran, and with what.</summary>
internal sealed record PeerInfo(string Name, bool Available, string Description);

/// <summary>One peer case (fp32 attention on the kernel's shape and threads) and its best time.</summary>
internal sealed record PeerResult(string Peer, int N, int Heads, int HeadDim, bool Causal, int Threads, double Seconds, double Gflops);

/// <summary>
/// One ring size on the ring-overhead problem, against the single-rank run of the same problem: the overhead in wall
/// time (the target) and in CPU time (blind to idle cores, but not to other processes taking them).
/// </summary>
internal sealed record RingResult(
    int N, int Heads, int HeadDim, bool Causal, int Ranks, string Layout, double Seconds, double CpuSeconds, double Gflops, double OverheadPercent,
    double CpuOverheadPercent, int KernelCalls, double ExposedWaitSeconds, double SentMiB);

/// <summary>Memory one rank holds for a pass, against N (P fixed).</summary>
internal sealed record MemoryResult(
    int N, int Ranks, string DType, int Heads, int HeadDim, int LocalRows, double RankMiB, double BytesPerLocalRow, double KernelPanelsMiB);

/// <summary>Everything one bench run measured.</summary>
internal sealed record BenchResults(
    string Command,
    MachineFacts Machine,
    IReadOnlyList<PeakResult> Peak,
    IReadOnlyList<KernelResult> Kernel,
    IReadOnlyList<PeerInfo> Peers,
    IReadOnlyList<PeerResult> PeerResults,
    IReadOnlyList<RingResult> Ring,
    IReadOnlyList<MemoryResult> Memory,
    string LoadAtEnd,
    double TotalSeconds)
{
    /// <summary>The backward kernel section (<see cref="BackwardSection.Empty"/> when it did not run).</summary>
    public BackwardSection Backward { get; init; } = BackwardSection.Empty;
}
