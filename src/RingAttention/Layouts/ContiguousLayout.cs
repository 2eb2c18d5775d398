namespace RingAttention.Layouts;

/// <summary>
/// Rank r holds one contiguous run of the sequence (lengths differ by at most one). Simple, but under a causal mask
/// rank P−1 does P blocks of work and rank 0 one.
/// </summary>
public sealed class ContiguousLayout(int sequenceLength, int ranks) : SequenceLayout(sequenceLength, ranks)
{
    /// <inheritdoc />
    public override string Name => "contiguous";

    /// <inheritdoc />
    protected override IEnumerable<PositionSegment> BuildSegments(int rank)
    {
        var (start, count) = BalancedPart(SequenceLength, Ranks, rank);
        yield return new PositionSegment(0, count, start, 1);
    }

    /// <inheritdoc />
    protected override (int Rank, int LocalIndex) LocateValid(int globalPosition)
    {
        int rank = BalancedPartOf(SequenceLength, Ranks, globalPosition);
        return (rank, globalPosition - BalancedPart(SequenceLength, Ranks, rank).Start);
    }
}
