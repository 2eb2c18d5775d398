namespace RingAttention.Ring;

/// <summary>
/// Runs the ring schedule over the ranks this process hosts: one for a real rank (MPI, NCCL), all P for emulation.
/// Every step posts all exchanges before any compute and awaits them after, the same order on every transport.
/// </summary>
public static class RingDriver
{
    /// <summary>Runs one forward pass; returns each hosted rank's report, in the order given.</summary>
    public static RankReport[] Forward(IReadOnlyList<RingRank> ranks, IProgress<int>? stepProgress = null)
    {
        Guard.AtLeast(ranks.Count, 1, nameof(ranks));
        int steps = ranks[0].RingSize;
        foreach (var rank in ranks)
        {
            rank.Start();
        }
        for (int step = 0; step < steps; step++)
        {
            foreach (var rank in ranks)
            {
                rank.PostExchange(step);
            }
            foreach (var rank in ranks)
            {
                rank.Compute(step);
            }
            foreach (var rank in ranks)
            {
                rank.CompleteExchange(step);
            }
            stepProgress?.Report(step + 1);
        }
        return ranks.Select(rank => rank.Finish()).ToArray();
    }
}
