namespace RingAttention.Layouts;

/// <summary>
/// A run of a rank's local rows whose global token positions form an arithmetic progression:
/// local row <c>LocalStart + i</c> holds the token at global position <c>GlobalStart + i·Stride</c>.
/// Every layout describes a shard as a few such runs, which is all a causal mask needs.
/// </summary>
/// <param name="LocalStart">First local row of the run.</param>
/// <param name="Count">Rows in the run (at least 1).</param>
/// <param name="GlobalStart">Global position of the first row.</param>
/// <param name="Stride">Distance between consecutive rows' global positions (at least 1).</param>
public readonly record struct PositionSegment(int LocalStart, int Count, int GlobalStart, int Stride)
{
    /// <summary>Global position of the run's <paramref name="index"/>-th row.</summary>
    public int GlobalAt(int index) => GlobalStart + index * Stride;

    /// <summary>Global position of the run's last row.</summary>
    public int GlobalLast => GlobalAt(Count - 1);
}
