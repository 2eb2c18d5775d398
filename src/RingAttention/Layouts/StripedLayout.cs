namespace RingAttention.Layouts;

/// <summary>
/// Round robin: rank r holds tokens r, r+P, r+2P, … Causal work is balanced to within one token per row, but
/// every block pair crosses the diagonal, so every tile near it is masked.
/// </summary>
public sealed class StripedLayout(int sequenceLength, int ranks) : SequenceLayout(sequenceLength, ranks)
{
    /// <inheritdoc />
    public override string Name => "striped";

    /// <inheritdoc />
    protected override IEnumerable<PositionSegment> BuildSegments(int rank)
    {
        int count = rank < SequenceLength ? (SequenceLength - rank + Ranks - 1) / Ranks : 0;
        yield return new PositionSegment(0, count, rank, Ranks);
    }

    /// <inheritdoc />
    protected override (int Rank, int LocalIndex) LocateValid(int globalPosition) =>
        (globalPosition % Ranks, globalPosition / Ranks);
}
