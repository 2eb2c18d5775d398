namespace RingAttention.Mpi;

/// <summary>MPI thread support levels (<c>MPI_THREAD_*</c>; the same values in Open MPI and MPICH).</summary>
public enum ThreadLevel
{
    /// <summary>Only one thread exists.</summary>
    Single = 0,

    /// <summary>Only the thread that initialised MPI calls it.</summary>
    Funneled = 1,

    /// <summary>Any thread calls MPI, one at a time.</summary>
    Serialized = 2,

    /// <summary>Any thread calls MPI at any time.</summary>
    Multiple = 3,
}
