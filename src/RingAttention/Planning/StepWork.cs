using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Planning;

/// <summary>What one rank computes at one ring step, from <see cref="RingSchedule.Pairs"/>.</summary>
/// <param name="UnmaskedPairs">Visible (query, key) pairs in block pairs the mask does not cut (every key visible).</param>
/// <param name="MaskedPairs">Visible pairs in block pairs the mask cuts through (diagonal blocks).</param>
/// <param name="QueryRows">The rank's query rows (the size of its kernel calls).</param>
/// <param name="IncomingKvRows">K/V rows the rank receives during this step for the next one (0 at the last step).</param>
public readonly record struct RankStepWork(long UnmaskedPairs, long MaskedPairs, long QueryRows, long IncomingKvRows)
{
    /// <summary>All visible pairs of the step.</summary>
    public long Pairs => UnmaskedPairs + MaskedPairs;
}

/// <summary>The whole ring schedule's work, step by step and rank by rank, for one layout and mask.</summary>
public sealed class StepWork
{
    private readonly RankStepWork[][] _work;

    private StepWork(ISequenceLayout layout, bool causal, int? window, RankStepWork[][] work) => (Layout, Causal, Window, _work) = (layout, causal, window, work);

    /// <summary>The layout the work was derived from.</summary>
    public ISequenceLayout Layout { get; }

    /// <summary>Whether the mask is causal.</summary>
    public bool Causal { get; }

    /// <summary>The causal sliding window (keys per query), or null for none.</summary>
    public int? Window { get; }

    /// <summary>Steps in the pass (= P).</summary>
    public int Steps => _work.Length;

    /// <summary>Rank <paramref name="rank"/>'s work at step <paramref name="step"/>.</summary>
    public RankStepWork At(int step, int rank) => _work[step][rank];

    /// <summary>Every rank's work at step <paramref name="step"/>.</summary>
    public IReadOnlyList<RankStepWork> Step(int step) => _work[step];

    /// <summary>Visible pairs over all steps and ranks (N² when not causal, N(N+1)/2 when causal, fewer with a window).</summary>
    public long TotalPairs => _work.Sum(step => step.Sum(w => w.Pairs));

    /// <summary>
    /// Derives the work of every (step, rank) from the ring schedule of <paramref name="layout"/>. With a causal
    /// sliding <paramref name="window"/> the ring still visits every block (this runtime skips none), but only the
    /// pairs inside the window are computed; a pair the window cuts counts as masked.
    /// </summary>
    public static StepWork Derive(ISequenceLayout layout, bool causal, int? window = null)
    {
        Guard.That(window is null || (causal && window >= 1), nameof(window), "null, or at least 1 with a causal mask", window);
        int ranks = layout.Ranks;
        var work = new RankStepWork[ranks][];
        for (int step = 0; step < ranks; step++)
        {
            work[step] = new RankStepWork[ranks];
            for (int rank = 0; rank < ranks; rank++)
            {
                long unmasked = 0, masked = 0;
                foreach (var pair in RingSchedule.Pairs(layout, rank, step, causal))
                {
                    long visible = VisibleKeyCount.Of(pair, causal, window);
                    if (pair.Masked || (window is not null && visible != VisibleKeyCount.Of(pair, causal)))
                    {
                        masked += visible;
                    }
                    else
                    {
                        unmasked += visible;
                    }
                }
                long incoming = step + 1 < ranks ? layout.LocalLength(RingSchedule.SourceRank(rank, step + 1, ranks)) : 0;
                work[step][rank] = new RankStepWork(unmasked, masked, layout.LocalLength(rank), incoming);
            }
        }
        return new StepWork(layout, causal, window, work);
    }
}
