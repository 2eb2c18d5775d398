namespace RingAttention.Ring;

/// <summary>How <see cref="IRingCollectives.PostAllReduce"/> combines the ranks' values.</summary>
public enum ReduceOperation
{
    /// <summary>Element-wise sum.</summary>
    Sum,

    /// <summary>Element-wise maximum.</summary>
    Max,
}
