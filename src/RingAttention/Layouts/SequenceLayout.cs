namespace RingAttention.Layouts;

/// <summary>Shared argument checks and segment caching for the built-in layouts.</summary>
public abstract class SequenceLayout : ISequenceLayout
{
    private readonly PositionSegment[][] _segments;

    /// <summary>Validates N and P and precomputes every rank's segments (a few per rank).</summary>
    protected SequenceLayout(int sequenceLength, int ranks)
    {
        Guard.AtLeast(sequenceLength, 1);
        Guard.AtLeast(ranks, 1);
        SequenceLength = sequenceLength;
        Ranks = ranks;
        _segments = new PositionSegment[ranks][];
        for (int rank = 0; rank < ranks; rank++)
        {
            _segments[rank] = BuildSegments(rank).Where(s => s.Count > 0).ToArray();
        }
    }

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public int SequenceLength { get; }

    /// <inheritdoc />
    public int Ranks { get; }

    /// <inheritdoc />
    public int LocalLength(int rank)
    {
        var segments = Segments(rank);
        return segments.Count == 0 ? 0 : segments[^1].LocalStart + segments[^1].Count;
    }

    /// <inheritdoc />
    public IReadOnlyList<PositionSegment> Segments(int rank)
    {
        Guard.InRange(rank, 0, Ranks - 1);
        return _segments[rank];
    }

    /// <inheritdoc />
    public (int Rank, int LocalIndex) Locate(int globalPosition)
    {
        Guard.InRange(globalPosition, 0, SequenceLength - 1);
        return LocateValid(globalPosition);
    }

    /// <summary>The rank's runs in local order; empty runs are dropped by the caller.</summary>
    protected abstract IEnumerable<PositionSegment> BuildSegments(int rank);

    /// <summary><see cref="Locate"/> for a position already checked to be in range.</summary>
    protected abstract (int Rank, int LocalIndex) LocateValid(int globalPosition);

    /// <summary>Start and length of part <paramref name="index"/> when <paramref name="total"/> items are split into
    /// <paramref name="parts"/> parts whose lengths differ by at most one (the longer parts first).</summary>
    internal static (int Start, int Count) BalancedPart(int total, int parts, int index)
    {
        int baseCount = total / parts;
        int remainder = total % parts;
        int start = index * baseCount + Math.Min(index, remainder);
        return (start, baseCount + (index < remainder ? 1 : 0));
    }

    /// <summary>Inverse of <see cref="BalancedPart"/>: which part holds item <paramref name="item"/>.</summary>
    internal static int BalancedPartOf(int total, int parts, int item)
    {
        int baseCount = total / parts;
        int remainder = total % parts;
        int longSpan = remainder * (baseCount + 1);
        return item < longSpan ? item / (baseCount + 1) : remainder + (item - longSpan) / baseCount;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name}(N={SequenceLength}, P={Ranks})";
}
