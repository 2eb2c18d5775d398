namespace RingAttention.Inputs;

/// <summary>Which of the three input tensors.</summary>
public enum QkvTensor
{
    /// <summary>Queries, rows of heads × headDim.</summary>
    Q = 1,
    /// <summary>Keys, rows of kvHeads × headDim.</summary>
    K = 2,
    /// <summary>Values, rows of kvHeads × headDim.</summary>
    V = 3,
}

/// <summary>
/// Where input rows come from, addressed by global position so that every rank reads only its own rows and the
/// references read the very same values. Rows are [heads, headDim] (Q) or [kvHeads, headDim] (K, V) as fp32,
/// already rounded to the storage type.
/// </summary>
public interface ITensorSource
{
    /// <summary>Global sequence length N.</summary>
    int SequenceLength { get; }

    /// <summary>Fills <paramref name="row"/> with the row of <paramref name="tensor"/> at (batch, global position).</summary>
    void ReadRow(QkvTensor tensor, int batch, int position, Span<float> row);
}
