using System.Reflection;
using System.Runtime.InteropServices;

namespace RingAttention.Mpi;

/// <summary>
/// The MPI C API as this project uses it. Handles are passed as <see cref="nint"/>: Open MPI's are pointers and
/// MPICH's are <c>int</c>s, which the x86-64 and AArch64 calling conventions pass in a full register; handles a call
/// writes back go to zeroed 8-byte slots, so MPICH's 4-byte writes read back correctly. The library is chosen at run
/// time (<see cref="MpiLibrary"/>): the logical name below is resolved to the handle it loaded.
/// </summary>
internal static unsafe partial class NativeMpi
{
    public const string Library = "mpi";

    static NativeMpi()
    {
        NativeLibrary.SetDllImportResolver(typeof(NativeMpi).Assembly, Resolve);
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == Library ? MpiLibrary.Load().Handle : 0;

    [LibraryImport(Library)]
    public static partial int MPI_Init_thread(int* argc, byte*** argv, int required, int* provided);

    [LibraryImport(Library)]
    public static partial int MPI_Initialized(int* flag);

    [LibraryImport(Library)]
    public static partial int MPI_Finalized(int* flag);

    [LibraryImport(Library)]
    public static partial int MPI_Finalize();

    [LibraryImport(Library)]
    public static partial int MPI_Abort(nint comm, int errorCode);

    [LibraryImport(Library)]
    public static partial int MPI_Get_library_version(byte* version, int* length);

    [LibraryImport(Library)]
    public static partial int MPI_Error_string(int errorCode, byte* text, int* length);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_set_errhandler(nint comm, nint errorHandler);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_rank(nint comm, int* rank);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_size(nint comm, int* size);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_split_type(nint comm, int splitType, int key, nint info, nint* newComm);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_free(nint* comm);

    [LibraryImport(Library)]
    public static partial int MPI_Isend(void* buffer, int count, nint datatype, int destination, int tag, nint comm, nint* request);

    [LibraryImport(Library)]
    public static partial int MPI_Irecv(void* buffer, int count, nint datatype, int source, int tag, nint comm, nint* request);

    [LibraryImport(Library)]
    public static partial int MPI_Test(nint* request, int* flag, void* status);

    [LibraryImport(Library)]
    public static partial int MPI_Wait(nint* request, void* status);

    [LibraryImport(Library)]
    public static partial int MPI_Ibarrier(nint comm, nint* request);

    [LibraryImport(Library)]
    public static partial int MPI_Ibcast(void* buffer, int count, nint datatype, int root, nint comm, nint* request);

    [LibraryImport(Library)]
    public static partial int MPI_Iallreduce(void* send, void* receive, int count, nint datatype, nint op, nint comm, nint* request);

    [LibraryImport(Library)]
    public static partial int MPI_Igather(void* send, int sendCount, nint sendType, void* receive, int receiveCount, nint receiveType, int root, nint comm, nint* request);

    [LibraryImport(Library)]
    public static partial int MPI_Igatherv(void* send, int sendCount, nint sendType, void* receive, int* receiveCounts, int* displacements, nint receiveType,
        int root, nint comm, nint* request);
}
