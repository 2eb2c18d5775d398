using System.Runtime.InteropServices;

namespace RingAttention.Nccl;

/// <summary>NCCL status codes (<c>ncclResult_t</c>).</summary>
public enum NcclResult
{
    /// <summary>ncclSuccess.</summary>
    Success = 0,
    /// <summary>ncclUnhandledCudaError.</summary>
    UnhandledCudaError = 1,
    /// <summary>ncclSystemError.</summary>
    SystemError = 2,
    /// <summary>ncclInternalError.</summary>
    InternalError = 3,
    /// <summary>ncclInvalidArgument.</summary>
    InvalidArgument = 4,
    /// <summary>ncclInvalidUsage.</summary>
    InvalidUsage = 5,
    /// <summary>ncclRemoteError: a peer failed.</summary>
    RemoteError = 6,
    /// <summary>ncclInProgress: a non-blocking operation has not completed yet.</summary>
    InProgress = 7,
    /// <summary>ncclTimeout (newer NCCL versions): an operation timed out.</summary>
    Timeout = 8,
}

/// <summary>NCCL element types (<c>ncclDataType_t</c>).</summary>
public enum NcclDataType
{
    /// <summary>ncclInt8.</summary>
    Int8 = 0,
    /// <summary>ncclUint8: the type used to move raw bytes.</summary>
    Uint8 = 1,
    /// <summary>ncclInt32.</summary>
    Int32 = 2,
    /// <summary>ncclUint32.</summary>
    Uint32 = 3,
    /// <summary>ncclInt64.</summary>
    Int64 = 4,
    /// <summary>ncclUint64.</summary>
    Uint64 = 5,
    /// <summary>ncclFloat16.</summary>
    Float16 = 6,
    /// <summary>ncclFloat32.</summary>
    Float32 = 7,
    /// <summary>ncclFloat64.</summary>
    Float64 = 8,
    /// <summary>ncclBfloat16.</summary>
    BFloat16 = 9,
}

/// <summary>NCCL reductions (<c>ncclRedOp_t</c>).</summary>
public enum NcclReduction
{
    /// <summary>ncclSum.</summary>
    Sum = 0,
    /// <summary>ncclProd.</summary>
    Product = 1,
    /// <summary>ncclMax.</summary>
    Max = 2,
    /// <summary>ncclMin.</summary>
    Min = 3,
}

/// <summary>The opaque 128-byte id rank 0 creates and every rank passes to <c>ncclCommInitRank</c> by value.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct NcclUniqueId
{
    /// <summary>Size of the id in bytes (<c>NCCL_UNIQUE_ID_BYTES</c>).</summary>
    public const int Size = 128;

    private fixed byte _bytes[Size];

    /// <summary>The id's bytes, for sending over MPI.</summary>
    public readonly byte[] ToArray()
    {
        var copy = new byte[Size];
        fixed (byte* source = _bytes)
        {
            new ReadOnlySpan<byte>(source, Size).CopyTo(copy);
        }
        return copy;
    }

    /// <summary>Rebuilds an id from the bytes rank 0 broadcast.</summary>
    public static NcclUniqueId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size)
        {
            throw new ArgumentException($"bytes: expected {Size} bytes of an NCCL unique id, actual {bytes.Length}.", nameof(bytes));
        }
        var id = new NcclUniqueId();
        bytes.CopyTo(new Span<byte>(id._bytes, Size));
        return id;
    }
}

/// <summary>The NCCL entry points this runtime uses, from <c>libnccl.so.2</c>.</summary>
internal static unsafe partial class NativeNccl
{
    public const string Library = "libnccl.so.2";

    [LibraryImport(Library, EntryPoint = "ncclGetVersion")]
    public static partial NcclResult GetVersion(out int version);

    [LibraryImport(Library, EntryPoint = "ncclGetUniqueId")]
    public static partial NcclResult GetUniqueId(out NcclUniqueId uniqueId);

    [LibraryImport(Library, EntryPoint = "ncclCommInitRank")]
    public static partial NcclResult CommInitRank(out nint comm, int ranks, NcclUniqueId commId, int rank);

    [LibraryImport(Library, EntryPoint = "ncclSend")]
    public static partial NcclResult Send(nint sendBuffer, nuint count, NcclDataType type, int peer, nint comm, nint stream);

    [LibraryImport(Library, EntryPoint = "ncclRecv")]
    public static partial NcclResult Recv(nint receiveBuffer, nuint count, NcclDataType type, int peer, nint comm, nint stream);

    [LibraryImport(Library, EntryPoint = "ncclGroupStart")]
    public static partial NcclResult GroupStart();

    [LibraryImport(Library, EntryPoint = "ncclGroupEnd")]
    public static partial NcclResult GroupEnd();

    [LibraryImport(Library, EntryPoint = "ncclAllReduce")]
    public static partial NcclResult AllReduce(nint sendBuffer, nint receiveBuffer, nuint count, NcclDataType type, NcclReduction op, nint comm, nint stream);

    [LibraryImport(Library, EntryPoint = "ncclBroadcast")]
    public static partial NcclResult Broadcast(nint sendBuffer, nint receiveBuffer, nuint count, NcclDataType type, int root, nint comm, nint stream);

    [LibraryImport(Library, EntryPoint = "ncclCommGetAsyncError")]
    public static partial NcclResult CommGetAsyncError(nint comm, out NcclResult asyncError);

    [LibraryImport(Library, EntryPoint = "ncclCommFinalize")]
    public static partial NcclResult CommFinalize(nint comm);

    [LibraryImport(Library, EntryPoint = "ncclCommAbort")]
    public static partial NcclResult CommAbort(nint comm);

    [LibraryImport(Library, EntryPoint = "ncclCommDestroy")]
    public static partial NcclResult CommDestroy(nint comm);

    [LibraryImport(Library, EntryPoint = "ncclCommCuDevice")]
    public static partial NcclResult CommCuDevice(nint comm, out int device);

    // const char* returns are read, never freed: NCCL owns the strings.
    [LibraryImport(Library, EntryPoint = "ncclGetErrorString")]
    public static partial byte* GetErrorString(NcclResult result);

    /// <summary>NCCL 2.13+ only: callers must expect <see cref="EntryPointNotFoundException"/> from older libraries.</summary>
    [LibraryImport(Library, EntryPoint = "ncclGetLastError")]
    public static partial byte* GetLastError(nint comm);
}
