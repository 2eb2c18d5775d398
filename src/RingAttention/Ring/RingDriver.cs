namespace RingAttention.Ring;

/// <summary>
/// Runs passes over the ranks this process hosts: one for a real rank (MPI, NCCL), all P for emulation. Every step
/// posts all exchanges before any compute and awaits them after, the same order on every transport.
/// </summary>
public static class RingDriver
{
    /// <summary>Runs one pass per hosted rank; returns each rank's report, in the order given.</summary>
    public static RankReport[] Run(IReadOnlyList<IRingPass> passes, IProgress<int>? stepProgress = null)
    {
        Guard.AtLeast(passes.Count, 1, nameof(passes));
        int steps = passes[0].Steps;
        foreach (var pass in passes)
        {
            pass.Start();
        }
        for (int step = 0; step < steps; step++)
        {
            foreach (var pass in passes)
            {
                pass.PostExchange(step);
            }
            foreach (var pass in passes)
            {
                pass.Compute(step);
            }
            foreach (var pass in passes)
            {
                pass.CompleteExchange(step);
            }
            stepProgress?.Report(step + 1);
        }
        return passes.Select(pass => pass.Finish()).ToArray();
    }

    /// <summary>Runs one forward pass over <paramref name="ranks"/>; returns each rank's report, in the order given.</summary>
    public static RankReport[] Forward(IReadOnlyList<RingRank> ranks, IProgress<int>? stepProgress = null) => Run(ranks, stepProgress);
}
