namespace RingAttention.Mpi;

/// <summary>
/// The predefined handles and constants of one MPI implementation. Open MPI's handles are the addresses of
/// exported objects (<c>MPI_COMM_WORLD</c> is <c>&amp;ompi_mpi_comm_world</c>); the MPICH family (MPICH, Intel MPI,
/// MVAPICH, Cray MPICH share its ABI) uses fixed integers.
/// </summary>
internal sealed record MpiConstants(
    nint CommWorld,
    nint InfoNull,
    nint ErrorsReturn,
    nint Byte,
    nint Int32,
    nint Int64,
    nint Float,
    nint Double,
    nint OpSum,
    nint OpMax,
    nint OpMin,
    nint OpLogicalAnd,
    int CommTypeShared,
    int StatusBytes)
{
    /// <summary>The largest <c>MPI_Status</c> of the supported implementations (Open MPI 24 bytes, MPICH 20).</summary>
    public const int MaxStatusBytes = 32;

    /// <summary>Large enough for either implementation's <c>MPI_MAX_LIBRARY_VERSION_STRING</c> (Open MPI 256, MPICH 8192).</summary>
    public const int MaxVersionBytes = 8192;

    /// <summary>Large enough for either implementation's <c>MPI_MAX_ERROR_STRING</c> (Open MPI 256, MPICH 512).</summary>
    public const int MaxErrorBytes = 1024;

    /// <summary>MPICH's values, from its mpi.h (the MPICH ABI).</summary>
    public static MpiConstants Mpich { get; } = new(
        CommWorld: 0x44000000,
        InfoNull: 0x1c000000,
        ErrorsReturn: 0x54000001,
        Byte: 0x4c00010d,
        Int32: 0x4c000405,
        Int64: 0x4c00083a,
        Float: 0x4c00040a,
        Double: 0x4c00080b,
        OpSum: 0x58000003,
        OpMax: 0x58000001,
        OpMin: 0x58000002,
        OpLogicalAnd: 0x58000005,
        CommTypeShared: 1,
        StatusBytes: 20);

    /// <summary>Open MPI's handles: the addresses of its predefined objects in the loaded library.</summary>
    public static MpiConstants OpenMpi(Func<string, nint> export) => new(
        CommWorld: export("ompi_mpi_comm_world"),
        InfoNull: export("ompi_mpi_info_null"),
        ErrorsReturn: export("ompi_mpi_errors_return"),
        Byte: export("ompi_mpi_byte"),
        Int32: export("ompi_mpi_int"),
        Int64: export("ompi_mpi_int64_t"),
        Float: export("ompi_mpi_float"),
        Double: export("ompi_mpi_double"),
        OpSum: export("ompi_mpi_op_sum"),
        OpMax: export("ompi_mpi_op_max"),
        OpMin: export("ompi_mpi_op_min"),
        OpLogicalAnd: export("ompi_mpi_op_land"),
        CommTypeShared: 0,
        StatusBytes: 24);
}
