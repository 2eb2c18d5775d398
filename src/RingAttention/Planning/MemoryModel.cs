using RingAttention.Layouts;

namespace RingAttention.Planning;

/// <summary>Memory per rank for one attention layer, from the real layout's largest shard.</summary>
public static class MemoryModel
{
    /// <summary>The busiest rank's memory for N tokens over <paramref name="ranks"/> ranks in layout <paramref name="layout"/>.</summary>
    public static RankMemory PerRank(AttentionOptions options, int sequenceLength, LayoutKind layout, int ranks)
    {
        options.Validate();
        var split = SequenceLayouts.Create(layout, sequenceLength, ranks);
        long rows = Enumerable.Range(0, ranks).Max(split.LocalLength);
        return PerRank(options, rows, ranks);
    }

    /// <summary>The memory of a rank holding <paramref name="rows"/> rows in a ring of <paramref name="ranks"/>.</summary>
    public static RankMemory PerRank(AttentionOptions options, long rows, int ranks)
    {
        long e = ElementTypes.SizeOf(options.ElementType);
        long b = options.Batch;
        long queryRow = (long)options.QueryRowElements;
        long keyRow = (long)options.KeyRowElements;
        long fp32Stat = b * options.Heads * rows * sizeof(float);
        long query = b * rows * queryRow * e;
        long key = b * rows * keyRow * e;
        long receive = ranks > 1 ? 2 * 2 * key : 0;
        long accumulator = b * rows * queryRow * sizeof(float);

        long forward = 2 * query + 2 * key + fp32Stat + receive
            + (options.ElementType == ElementType.Float32 ? 0 : accumulator) + 2 * fp32Stat;
        long travellingGradients = (ranks > 1 ? 2 : 1) * 2 * b * rows * keyRow * sizeof(float);
        long backward = 4 * query + 4 * key + 2 * fp32Stat + accumulator + receive + travellingGradients;
        return new RankMemory(ranks, rows, forward, Math.Max(forward, backward), 2 * key);
    }

    /// <summary>
    /// The smallest P whose busiest rank fits in <paramref name="budgetBytes"/> for a pass in
    /// <paramref name="direction"/>; null when none up to <paramref name="maxRanks"/> (or N) does.
    /// </summary>
    public static int? SmallestFittingRanks(AttentionOptions options, int sequenceLength, LayoutKind layout, PassDirection direction,
        double budgetBytes, int maxRanks = 1 << 20)
    {
        Guard.That(budgetBytes > 0, nameof(budgetBytes), "a positive byte count", budgetBytes);
        int limit = Math.Min(maxRanks, sequenceLength);
        // Memory falls about as 1/P: start just below the estimate and walk up.
        double oneRank = PerRank(options, (long)sequenceLength, 2).PassBytes(direction);
        int start = Math.Clamp((int)Math.Floor(oneRank / budgetBytes) - 1, 1, limit);
        for (int ranks = start; ranks <= limit; ranks++)
        {
            if (PerRank(options, sequenceLength, layout, ranks).PassBytes(direction) <= budgetBytes)
            {
                return ranks;
            }
        }
        return null;
    }
}
