using System.Runtime.InteropServices;

namespace RingAttention.Nccl;

/// <summary>Owns an <c>ncclComm_t</c>: destroyed on release, or aborted when the communicator was marked failed.</summary>
internal sealed class NcclCommHandle : SafeHandle
{
    public NcclCommHandle() : base(0, ownsHandle: true)
    {
    }

    public bool Failed { get; set; }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        if (Failed)
        {
            return NativeNccl.CommAbort(handle) == NcclResult.Success;
        }
        // ncclCommFinalize (NCCL 2.14+) flushes outstanding operations before the destroy; older libraries lack it.
        if (NativeLibrary.TryGetExport(NativeLibrary.Load(NativeNccl.Library), "ncclCommFinalize", out _))
        {
            NativeNccl.CommFinalize(handle);
        }
        return NativeNccl.CommDestroy(handle) == NcclResult.Success;
    }

    internal void Adopt(nint comm) => SetHandle(comm);
}

/// <summary>
/// One rank's NCCL communicator. Operations are enqueued on a CUDA stream (passed as its raw handle) and run
/// asynchronously; <see cref="ThrowIfAsyncError"/> polls for failures of operations in flight.
/// </summary>
public sealed class NcclCommunicator : IDisposable
{
    private readonly NcclCommHandle _handle = new();

    /// <summary>Joins the communicator of <paramref name="ranks"/> ranks identified by <paramref name="id"/> (collective).</summary>
    public NcclCommunicator(int ranks, int rank, NcclUniqueId id)
    {
        if (ranks < 1 || rank < 0 || rank >= ranks)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), $"rank: expected a value in [0, {ranks - 1}] of {ranks} ranks, actual {rank}.");
        }
        NcclException.ThrowIfFailed(NativeNccl.CommInitRank(out nint comm, ranks, id, rank));
        _handle.Adopt(comm);
        Rank = rank;
        Size = ranks;
    }

    /// <summary>This rank.</summary>
    public int Rank { get; }

    /// <summary>Ranks in the communicator.</summary>
    public int Size { get; }

    private nint Comm => _handle.DangerousGetHandle();

    /// <summary>The CUDA device the communicator uses.</summary>
    public int Device
    {
        get
        {
            NcclException.ThrowIfFailed(NativeNccl.CommCuDevice(Comm, out int device), Comm);
            return device;
        }
    }

    /// <summary>Enqueues a send of <paramref name="bytes"/> bytes at device address <paramref name="buffer"/> to <paramref name="peer"/>.</summary>
    public void Send(nint buffer, long bytes, int peer, nint stream) =>
        NcclException.ThrowIfFailed(NativeNccl.Send(buffer, (nuint)bytes, NcclDataType.Uint8, peer, Comm, stream), Comm);

    /// <summary>Enqueues a receive of <paramref name="bytes"/> bytes into device address <paramref name="buffer"/> from <paramref name="peer"/>.</summary>
    public void Receive(nint buffer, long bytes, int peer, nint stream) =>
        NcclException.ThrowIfFailed(NativeNccl.Recv(buffer, (nuint)bytes, NcclDataType.Uint8, peer, Comm, stream), Comm);

    /// <summary>Enqueues an all-reduce of <paramref name="count"/> elements.</summary>
    public void AllReduce(nint send, nint receive, long count, NcclDataType type, NcclReduction op, nint stream) =>
        NcclException.ThrowIfFailed(NativeNccl.AllReduce(send, receive, (nuint)count, type, op, Comm, stream), Comm);

    /// <summary>Enqueues a broadcast of <paramref name="count"/> elements from <paramref name="root"/>.</summary>
    public void Broadcast(nint send, nint receive, long count, NcclDataType type, int root, nint stream) =>
        NcclException.ThrowIfFailed(NativeNccl.Broadcast(send, receive, (nuint)count, type, root, Comm, stream), Comm);

    /// <summary>Throws if an operation in flight failed (for example a peer died); marks the communicator for abort.</summary>
    public void ThrowIfAsyncError()
    {
        NcclException.ThrowIfFailed(NativeNccl.CommGetAsyncError(Comm, out var asyncError), Comm);
        if (asyncError is not (NcclResult.Success or NcclResult.InProgress))
        {
            _handle.Failed = true;
            NcclException.ThrowIfFailed(asyncError, Comm, "ncclCommGetAsyncError");
        }
    }

    /// <summary>Aborts the communicator at once (operations in flight are cancelled); use when a peer or the job failed.</summary>
    public void Abort()
    {
        _handle.Failed = true;
        _handle.Dispose();
    }

    /// <summary>Destroys the communicator (or aborts it if it failed).</summary>
    public void Dispose() => _handle.Dispose();
}

/// <summary>A scope in which point-to-point calls form one NCCL group (a ring exchange must, or it deadlocks).</summary>
public readonly struct NcclGroup : IDisposable
{
    /// <summary>Starts the group.</summary>
    public static NcclGroup Begin()
    {
        NcclException.ThrowIfFailed(NativeNccl.GroupStart());
        return new NcclGroup();
    }

    /// <summary>Ends the group, launching its operations.</summary>
    public void Dispose() => NcclException.ThrowIfFailed(NativeNccl.GroupEnd());
}
