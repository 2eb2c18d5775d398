namespace RingAttention.Mpi;

/// <summary>Predefined reduction operations (<c>MPI_SUM</c>, <c>MPI_MAX</c>, <c>MPI_MIN</c>, <c>MPI_LAND</c>).</summary>
public enum ReductionOperation
{
    /// <summary>Sum.</summary>
    Sum,

    /// <summary>Maximum.</summary>
    Max,

    /// <summary>Minimum.</summary>
    Min,

    /// <summary>Logical and of integers (non-zero is true).</summary>
    LogicalAnd,
}
