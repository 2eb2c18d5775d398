namespace RingAttention.Layouts;

/// <summary>
/// How a sequence of N tokens is split over P ranks: which global positions each rank holds, in local row order.
/// Every N ≥ 1 and P ≥ 1 is valid; a rank may hold no tokens when P exceeds what the layout can spread.
/// </summary>
public interface ISequenceLayout
{
    /// <summary>Short name used on the command line (contiguous, zigzag, striped).</summary>
    string Name { get; }

    /// <summary>Global sequence length N.</summary>
    int SequenceLength { get; }

    /// <summary>Number of ranks P.</summary>
    int Ranks { get; }

    /// <summary>Rows rank <paramref name="rank"/> holds.</summary>
    int LocalLength(int rank);

    /// <summary>The rank's rows as runs of arithmetic global positions, ordered by local row and by global position.</summary>
    IReadOnlyList<PositionSegment> Segments(int rank);

    /// <summary>The rank and local row that hold global position <paramref name="globalPosition"/>.</summary>
    (int Rank, int LocalIndex) Locate(int globalPosition);
}
