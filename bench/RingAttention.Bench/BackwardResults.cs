namespace RingAttention.Bench;

/// <summary>
/// One backward-kernel case and its best time (preprocess + one call over all N queries and keys; FLOPs 2.5 × the
/// forward's), with the forward kernel's figure on the same shape, storage type and threads beside it.
/// </summary>
internal sealed record BackwardResult(
    string DType, int N, int Heads, int HeadDim, bool Causal, int Threads, double Seconds, double CpuSeconds, double Gflops, double PercentOfPeak,
    double ForwardGflops);

/// <summary>One backward peer case (autograd through fp32 matmul + softmax attention; backward timed alone) and its best time.</summary>
internal sealed record BackwardPeerResult(string Peer, int N, int Heads, int HeadDim, bool Causal, int Threads, double Seconds, double Gflops);

/// <summary>The backward kernel section: the kernel's cases, whether the peer ran (and with what), the peer's cases.</summary>
internal sealed record BackwardSection(
    IReadOnlyList<BackwardResult> Kernel, string Peer, bool PeerAvailable, string PeerDescription, IReadOnlyList<BackwardPeerResult> PeerResults)
{
    /// <summary>A section that did not run.</summary>
    public static BackwardSection Empty { get; } = new([], TorchBackwardPeer.Name, false, "not run", []);

    /// <summary>The same section with each case's percentage taken against <paramref name="peaks"/> (the best peak of the run).</summary>
    public BackwardSection WithPeaks(IReadOnlyList<PeakResult> peaks) => this with
    {
        Kernel = Kernel.Select(k => k with { PercentOfPeak = 100 * k.Gflops / (peaks.FirstOrDefault(p => p.Threads == k.Threads)?.Gflops ?? double.NaN) })
            .ToList(),
    };
}
