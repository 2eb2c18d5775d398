namespace RingAttention.Layouts;

/// <summary>The built-in sequence layouts.</summary>
public enum LayoutKind
{
    /// <summary><see cref="ContiguousLayout"/>.</summary>
    Contiguous,
    /// <summary><see cref="ZigzagLayout"/>.</summary>
    Zigzag,
    /// <summary><see cref="StripedLayout"/>.</summary>
    Striped,
}

/// <summary>Creation of layouts and sharding of full tensors by layout.</summary>
public static class SequenceLayouts
{
    /// <summary>Creates the layout of kind <paramref name="kind"/> for N tokens over P ranks.</summary>
    public static ISequenceLayout Create(LayoutKind kind, int sequenceLength, int ranks) => kind switch
    {
        LayoutKind.Contiguous => new ContiguousLayout(sequenceLength, ranks),
        LayoutKind.Zigzag => new ZigzagLayout(sequenceLength, ranks),
        LayoutKind.Striped => new StripedLayout(sequenceLength, ranks),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "expected Contiguous, Zigzag or Striped"),
    };

    /// <summary>Global position of the rank's local row <paramref name="localIndex"/>.</summary>
    public static int GlobalPosition(this ISequenceLayout layout, int rank, int localIndex)
    {
        Guard.InRange(localIndex, 0, layout.LocalLength(rank) - 1);
        foreach (var segment in layout.Segments(rank))
        {
            if (localIndex < segment.LocalStart + segment.Count)
            {
                return segment.GlobalAt(localIndex - segment.LocalStart);
            }
        }
        throw new InvalidOperationException($"layout {layout} has no segment for local row {localIndex} of rank {rank}");
    }

    /// <summary>
    /// Copies the rank's rows of a full tensor [batch, N, rowWidth] into its shard [batch, localLength, rowWidth].
    /// </summary>
    public static void Shard<T>(this ISequenceLayout layout, int rank, ReadOnlySpan<T> full, Span<T> shard, int batch, int rowWidth)
    {
        CheckShapes(layout, rank, full.Length, shard.Length, batch, rowWidth);
        foreach (var (globalRow, localRow) in RowPairs(layout, rank, batch))
        {
            full.Slice(globalRow * rowWidth, rowWidth).CopyTo(shard.Slice(localRow * rowWidth, rowWidth));
        }
    }

    /// <summary>Copies a rank's shard [batch, localLength, rowWidth] back into its rows of a full tensor.</summary>
    public static void Unshard<T>(this ISequenceLayout layout, int rank, ReadOnlySpan<T> shard, Span<T> full, int batch, int rowWidth)
    {
        CheckShapes(layout, rank, full.Length, shard.Length, batch, rowWidth);
        foreach (var (globalRow, localRow) in RowPairs(layout, rank, batch))
        {
            shard.Slice(localRow * rowWidth, rowWidth).CopyTo(full.Slice(globalRow * rowWidth, rowWidth));
        }
    }

    private static void CheckShapes(ISequenceLayout layout, int rank, int fullLength, int shardLength, int batch, int rowWidth)
    {
        Guard.AtLeast(batch, 1);
        Guard.AtLeast(rowWidth, 1);
        Guard.Length(fullLength, (long)batch * layout.SequenceLength * rowWidth, "batch × N × rowWidth", "full.Length");
        Guard.Length(shardLength, (long)batch * layout.LocalLength(rank) * rowWidth, "batch × local length × rowWidth", "shard.Length");
    }

    /// <summary>(row in the full [batch, N] tensor, row in the shard [batch, local]) for every row the rank holds.</summary>
    private static IEnumerable<(int GlobalRow, int LocalRow)> RowPairs(ISequenceLayout layout, int rank, int batch)
    {
        int local = layout.LocalLength(rank);
        for (int b = 0; b < batch; b++)
        {
            foreach (var segment in layout.Segments(rank))
            {
                for (int i = 0; i < segment.Count; i++)
                {
                    yield return (b * layout.SequenceLength + segment.GlobalAt(i), b * local + segment.LocalStart + i);
                }
            }
        }
    }
}
