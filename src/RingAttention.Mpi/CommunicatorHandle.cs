using System.Runtime.InteropServices;

namespace RingAttention.Mpi;

/// <summary>
/// An MPI communicator handle. Predefined ones (<c>MPI_COMM_WORLD</c>) are not owned; communicators this process
/// created are freed with <c>MPI_Comm_free</c>, unless MPI was finalised first (then there is nothing left to free).
/// </summary>
internal sealed class CommunicatorHandle : SafeHandle
{
    public CommunicatorHandle(nint handle, bool ownsHandle)
        : base(0, ownsHandle)
    {
        SetHandle(handle);
    }

    public override bool IsInvalid => handle == 0;

    protected override unsafe bool ReleaseHandle()
    {
        if (MpiEnvironment.IsFinalized)
        {
            return true;
        }
        nint slot = handle;
        return NativeMpi.MPI_Comm_free(&slot) == 0;
    }
}
