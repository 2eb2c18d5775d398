using RingAttention.Layouts;

namespace RingAttention.Ring;

/// <summary>A (query run, key run) pair one ring step computes, and whether the causal mask cuts through it.</summary>
/// <param name="Query">The rank's query rows.</param>
/// <param name="Key">Rows of the K/V block being visited.</param>
/// <param name="Masked">True when some but not all keys are hidden from some queries; false when every key is visible.</param>
public readonly record struct BlockPair(PositionSegment Query, PositionSegment Key, bool Masked);

/// <summary>
/// The ring schedule, independent of transport and backend: at step s rank r holds the K/V block that started on
/// rank (r − s) mod P, and computes every (query run, key run) pair that the causal mask does not hide entirely.
/// With global positions this one rule gives the known schedules: contiguous computes the diagonal then whole
/// blocks, zigzag half a block per step on every rank, striped a masked block per step.
/// </summary>
public static class RingSchedule
{
    /// <summary>The rank whose K/V block rank <paramref name="rank"/> holds at step <paramref name="step"/>.</summary>
    public static int SourceRank(int rank, int step, int size) => ((rank - step) % size + size) % size;

    /// <summary>The pairs rank <paramref name="rank"/> computes at step <paramref name="step"/>.</summary>
    public static IEnumerable<BlockPair> Pairs(ISequenceLayout layout, int rank, int step, bool causal)
    {
        var keys = layout.Segments(SourceRank(rank, step, layout.Ranks));
        foreach (var query in layout.Segments(rank))
        {
            foreach (var key in keys)
            {
                if (!causal)
                {
                    yield return new BlockPair(query, key, Masked: false);
                }
                else if (query.GlobalLast >= key.GlobalStart)
                {
                    yield return new BlockPair(query, key, Masked: query.GlobalStart < key.GlobalLast);
                }
            }
        }
    }

    /// <summary>(query, key) pairs a step evaluates: the work the step does, for balance checks and reports.</summary>
    public static long VisiblePairs(ISequenceLayout layout, int rank, int step, bool causal)
    {
        long total = 0;
        foreach (var pair in Pairs(layout, rank, step, causal))
        {
            for (int i = 0; i < pair.Query.Count; i++)
            {
                long position = pair.Query.GlobalAt(i);
                long visible = position < pair.Key.GlobalStart ? 0 : Math.Min(pair.Key.Count, (position - pair.Key.GlobalStart) / pair.Key.Stride + 1);
                total += causal ? visible : pair.Key.Count;
            }
        }
        return total;
    }
}
