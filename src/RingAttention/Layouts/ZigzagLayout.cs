namespace RingAttention.Layouts;

/// <summary>
/// The sequence is cut into 2P chunks (lengths differ by at most one); rank r holds chunk r followed by chunk
/// 2P−1−r, so under a causal mask every rank does the same work at every ring step.
/// </summary>
public sealed class ZigzagLayout(int sequenceLength, int ranks) : SequenceLayout(sequenceLength, ranks)
{
    /// <inheritdoc />
    public override string Name => "zigzag";

    private int Chunks => 2 * Ranks;

    /// <inheritdoc />
    protected override IEnumerable<PositionSegment> BuildSegments(int rank)
    {
        var (frontStart, frontCount) = BalancedPart(SequenceLength, Chunks, rank);
        var (backStart, backCount) = BalancedPart(SequenceLength, Chunks, Chunks - 1 - rank);
        if (frontStart + frontCount == backStart)
        {
            // With P = 1 the two chunks touch: one run keeps the mask decisions exact.
            yield return new PositionSegment(0, frontCount + backCount, frontStart, 1);
            yield break;
        }
        yield return new PositionSegment(0, frontCount, frontStart, 1);
        yield return new PositionSegment(frontCount, backCount, backStart, 1);
    }

    /// <inheritdoc />
    protected override (int Rank, int LocalIndex) LocateValid(int globalPosition)
    {
        int chunk = BalancedPartOf(SequenceLength, Chunks, globalPosition);
        int offset = globalPosition - BalancedPart(SequenceLength, Chunks, chunk).Start;
        if (chunk < Ranks)
        {
            return (chunk, offset);
        }
        int rank = Chunks - 1 - chunk;
        return (rank, BalancedPart(SequenceLength, Chunks, rank).Count + offset);
    }
}
