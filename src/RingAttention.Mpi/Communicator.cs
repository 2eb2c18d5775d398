using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RingAttention.Mpi;

/// <summary>
/// An MPI communicator with an MPI.NET-style API: <see cref="World"/>, <see cref="Rank"/>, <see cref="Size"/>,
/// nonblocking point-to-point (<see cref="ImmediateSend{T}(T[], int, int)"/>, <see cref="ImmediateReceive{T}(T[], int, int)"/>)
/// and blocking collectives. Collectives run as their nonblocking MPI-3 forms and are waited for with
/// <see cref="OperationTimeout"/>, so that a rank that stops taking part ends the caller with an exception rather than
/// a hang. Errors are returned, not fatal (<c>MPI_ERRORS_RETURN</c>), and become <see cref="MpiException"/>s.
/// </summary>
public sealed class Communicator : IDisposable
{
    /// <summary>The largest tag every MPI implementation accepts (the standard's minimum <c>MPI_TAG_UB</c>).</summary>
    public const int MaxTag = 32767;

    private readonly CommunicatorHandle _handle;
    private readonly MpiConstants _constants;
    private long _chunkBytes = 1L << 30;

    internal unsafe Communicator(CommunicatorHandle handle, MpiConstants constants)
    {
        (_handle, _constants) = (handle, constants);
        int rank = 0, size = 0;
        MpiException.ThrowIfFailed(NativeMpi.MPI_Comm_rank(Handle, &rank));
        MpiException.ThrowIfFailed(NativeMpi.MPI_Comm_size(Handle, &size));
        (Rank, Size) = (rank, size);
    }

    /// <summary>All processes of the job (<c>MPI_COMM_WORLD</c>); needs a live <see cref="MpiEnvironment"/>.</summary>
    public static Communicator World => MpiEnvironment.Current?.World
        ?? throw new InvalidOperationException("MPI is not initialised in this process (or was finalised): create an MpiEnvironment first");

    /// <summary>This process's rank in the communicator.</summary>
    public int Rank { get; }

    /// <summary>Processes in the communicator.</summary>
    public int Size { get; }

    /// <summary>How long a blocking collective may wait before it throws <see cref="TimeoutException"/> (default: no limit).</summary>
    public TimeSpan OperationTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// Largest piece one MPI call carries (default 1 GiB; MPI counts are <c>int</c>). Larger messages travel as several
    /// pieces in order under one tag; sender and receiver must use the same value.
    /// </summary>
    public long ChunkBytes
    {
        get => _chunkBytes;
        set => _chunkBytes = value is >= 1 and <= int.MaxValue ? value
            : throw new ArgumentOutOfRangeException(nameof(ChunkBytes), $"ChunkBytes: expected 1 to {int.MaxValue}, actual {value}.");
    }

    internal nint Handle => _handle.DangerousGetHandle();

    /// <summary>Starts sending <paramref name="values"/> to <paramref name="destination"/>; the array stays pinned until the request completes.</summary>
    public Request ImmediateSend<T>(T[] values, int destination, int tag) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(values);
        var pin = GCHandle.Alloc(values, GCHandleType.Pinned);
        return PointToPoint(send: true, pin.AddrOfPinnedObject(), (long)values.Length * Unsafe.SizeOf<T>(), destination, tag, [pin]);
    }

    /// <summary>Starts receiving into <paramref name="values"/> from <paramref name="source"/>; the array stays pinned until the request completes.</summary>
    public Request ImmediateReceive<T>(T[] values, int source, int tag) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(values);
        var pin = GCHandle.Alloc(values, GCHandleType.Pinned);
        return PointToPoint(send: false, pin.AddrOfPinnedObject(), (long)values.Length * Unsafe.SizeOf<T>(), source, tag, [pin]);
    }

    /// <summary>Starts sending <paramref name="bytes"/> bytes of native memory (which must stay valid until the request completes).</summary>
    public Request ImmediateSend(nint address, long bytes, int destination, int tag) => PointToPoint(send: true, address, bytes, destination, tag, []);

    /// <summary>Starts receiving <paramref name="bytes"/> bytes into native memory (which must stay valid until the request completes).</summary>
    public Request ImmediateReceive(nint address, long bytes, int source, int tag) => PointToPoint(send: false, address, bytes, source, tag, []);

    /// <summary>Waits until every rank has called it.</summary>
    public unsafe void Barrier()
    {
        nint request = 0;
        MpiException.ThrowIfFailed(NativeMpi.MPI_Ibarrier(Handle, &request));
        Complete(new Request("MPI_Ibarrier", [request], []));
    }

    /// <summary>Gives every rank <paramref name="root"/>'s <paramref name="value"/>.</summary>
    public void Broadcast<T>(ref T value, int root) where T : unmanaged
    {
        var box = new[] { value };
        Broadcast(box, root);
        value = box[0];
    }

    /// <summary>Gives every rank <paramref name="root"/>'s contents of <paramref name="values"/> (the same length everywhere).</summary>
    public unsafe void Broadcast<T>(T[] values, int root) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(values);
        CheckRank(root, nameof(root));
        int bytes = CheckedBytes<T>(values.Length, nameof(values));
        var pin = GCHandle.Alloc(values, GCHandleType.Pinned);
        nint request = 0;
        MpiException.ThrowIfFailed(NativeMpi.MPI_Ibcast((void*)pin.AddrOfPinnedObject(), bytes, _constants.Byte, root, Handle, &request));
        Complete(new Request($"MPI_Ibcast of {bytes} bytes from rank {root}", [request], [pin]));
    }

    /// <summary>Combines <paramref name="value"/> over all ranks; every rank gets the result. T: int, long, float or double.</summary>
    public unsafe T Allreduce<T>(T value, ReductionOperation operation) where T : unmanaged
    {
        nint datatype = Datatype<T>();
        nint op = Operation(operation);
        var buffers = new T[] { value, default };
        var pin = GCHandle.Alloc(buffers, GCHandleType.Pinned);
        var p = (T*)pin.AddrOfPinnedObject();
        nint request = 0;
        MpiException.ThrowIfFailed(NativeMpi.MPI_Iallreduce(p, p + 1, 1, datatype, op, Handle, &request));
        Complete(new Request($"MPI_Iallreduce ({operation})", [request], [pin]));
        return buffers[1];
    }

    /// <summary>Collects every rank's <paramref name="value"/> on <paramref name="root"/>, in rank order; null on other ranks.</summary>
    public unsafe T[]? Gather<T>(T value, int root) where T : unmanaged
    {
        CheckRank(root, nameof(root));
        int bytes = CheckedBytes<T>(1, nameof(value));
        var send = new[] { value };
        var receive = Rank == root ? new T[Size] : [];
        var sendPin = GCHandle.Alloc(send, GCHandleType.Pinned);
        var receivePin = GCHandle.Alloc(receive, GCHandleType.Pinned);
        nint request = 0;
        MpiException.ThrowIfFailed(NativeMpi.MPI_Igather((void*)sendPin.AddrOfPinnedObject(), bytes, _constants.Byte,
            (void*)receivePin.AddrOfPinnedObject(), bytes, _constants.Byte, root, Handle, &request));
        Complete(new Request($"MPI_Igather of {bytes} bytes per rank to rank {root}", [request], [sendPin, receivePin]));
        return Rank == root ? receive : null;
    }

    /// <summary>Collects every rank's array, of any length, on <paramref name="root"/> (<c>MPI_Gatherv</c>); null on other ranks.</summary>
    public unsafe T[][]? GatherVariable<T>(T[] values, int root) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(values);
        CheckRank(root, nameof(root));
        int bytes = CheckedBytes<T>(values.Length, nameof(values));
        var lengths = Gather(values.Length, root);
        int[] counts = [], displacements = [];
        T[] receive = [];
        if (lengths is not null)
        {
            long total = lengths.Sum(length => (long)length);
            CheckedBytes<T>(total, "the gathered arrays together");
            counts = lengths.Select(length => length * Unsafe.SizeOf<T>()).ToArray();
            displacements = new int[Size];
            for (int rank = 1; rank < Size; rank++)
            {
                displacements[rank] = displacements[rank - 1] + counts[rank - 1];
            }
            receive = new T[total];
        }
        var pins = new[] { values, receive }.Select(array => GCHandle.Alloc(array, GCHandleType.Pinned)).ToArray();
        nint request = 0;
        fixed (int* countsPointer = counts, displacementsPointer = displacements)
        {
            MpiException.ThrowIfFailed(NativeMpi.MPI_Igatherv((void*)pins[0].AddrOfPinnedObject(), bytes, _constants.Byte,
                (void*)pins[1].AddrOfPinnedObject(), countsPointer, displacementsPointer, _constants.Byte, root, Handle, &request));
            // MPI may read the counts until the operation completes: complete it inside the fixed block.
            Complete(new Request($"MPI_Igatherv of {bytes} bytes to rank {root}", [request], pins));
        }
        if (lengths is null)
        {
            return null;
        }
        var result = new T[Size][];
        for (int rank = 0, offset = 0; rank < Size; offset += lengths[rank], rank++)
        {
            result[rank] = receive.AsSpan(offset, lengths[rank]).ToArray();
        }
        return result;
    }

    /// <summary>
    /// Starts combining <paramref name="count"/> fp32 values at <paramref name="send"/> over all ranks into
    /// <paramref name="receive"/> (<c>MPI_Iallreduce</c>; the buffers must not overlap and stay valid until the request completes).
    /// </summary>
    public unsafe Request ImmediateAllreduceFloats(nint send, nint receive, long count, ReductionOperation operation)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int elements = count <= int.MaxValue ? (int)count
            : throw new ArgumentOutOfRangeException(nameof(count), $"count: expected at most {int.MaxValue} values, actual {count}.");
        nint request = 0;
        MpiException.ThrowIfFailed(NativeMpi.MPI_Iallreduce((void*)send, (void*)receive, elements, _constants.Float, Operation(operation), Handle, &request));
        return new Request($"MPI_Iallreduce ({operation}) of {count} floats", [request], []);
    }

    /// <summary>
    /// Starts collecting every rank's <paramref name="bytes"/> bytes at <paramref name="send"/> on <paramref name="root"/>
    /// into <paramref name="receive"/> in rank order (<c>MPI_Igather</c>; Size × bytes there, ignored elsewhere).
    /// </summary>
    public unsafe Request ImmediateGather(nint send, long bytes, nint receive, int root)
    {
        CheckRank(root, nameof(root));
        int count = CheckedBytes<byte>(bytes, nameof(bytes));
        nint request = 0;
        MpiException.ThrowIfFailed(NativeMpi.MPI_Igather((void*)send, count, _constants.Byte, (void*)receive, count, _constants.Byte, root, Handle, &request));
        return new Request($"MPI_Igather of {bytes} bytes per rank to rank {root}", [request], []);
    }

    /// <summary>Starts a barrier (<c>MPI_Ibarrier</c>): the request completes once every rank has started it.</summary>
    public unsafe Request ImmediateBarrier()
    {
        nint request = 0;
        MpiException.ThrowIfFailed(NativeMpi.MPI_Ibarrier(Handle, &request));
        return new Request("MPI_Ibarrier", [request], []);
    }

    /// <summary>
    /// A communicator of the ranks that share this node's memory (<c>MPI_Comm_split_type</c> with
    /// <c>MPI_COMM_TYPE_SHARED</c>), ranked like this one; collective over this communicator.
    /// </summary>
    public unsafe Communicator SplitShared()
    {
        nint local = 0;
        MpiException.ThrowIfFailed(NativeMpi.MPI_Comm_split_type(Handle, _constants.CommTypeShared, Rank, _constants.InfoNull, &local));
        return new Communicator(new CommunicatorHandle(local, ownsHandle: true), _constants);
    }

    /// <summary>Ends every process of the communicator's job with <paramref name="errorCode"/> (<c>MPI_Abort</c>); does not return.</summary>
    public void Abort(int errorCode)
    {
        NativeMpi.MPI_Abort(Handle, errorCode);
        // MPI_Abort should not return; if the implementation does, end this process all the same.
        NativeLibc.ExitImmediately(errorCode == 0 ? 1 : errorCode);
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

    private unsafe Request PointToPoint(bool send, nint address, long bytes, int peer, int tag, GCHandle[] pins)
    {
        CheckRank(peer, send ? "destination" : "source");
        if (tag is < 0 or > MaxTag)
        {
            throw new ArgumentOutOfRangeException(nameof(tag), $"tag: expected 0 to {MaxTag}, actual {tag}.");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        int pieces = (int)Math.Max(1, (bytes + _chunkBytes - 1) / _chunkBytes);
        var handles = new nint[pieces];
        for (int piece = 0; piece < pieces; piece++)
        {
            long offset = piece * _chunkBytes;
            int count = (int)Math.Min(_chunkBytes, bytes - offset);
            nint handle = 0;
            void* start = (byte*)address + offset;
            if (send)
            {
                MpiException.ThrowIfFailed(NativeMpi.MPI_Isend(start, count, _constants.Byte, peer, tag, Handle, &handle));
            }
            else
            {
                MpiException.ThrowIfFailed(NativeMpi.MPI_Irecv(start, count, _constants.Byte, peer, tag, Handle, &handle));
            }
            handles[piece] = handle;
        }
        string what = send ? $"MPI_Isend of {bytes} bytes to rank {peer}" : $"MPI_Irecv of {bytes} bytes from rank {peer}";
        return new Request($"{what} (tag {tag}, {pieces} piece(s))", handles, pins);
    }

    private void Complete(Request request)
    {
        if (!request.Wait(OperationTimeout))
        {
            throw new TimeoutException(
                $"{request.Operation} did not complete within {OperationTimeout.TotalSeconds:F0} s on rank {Rank} of {Size}: a rank stopped taking part");
        }
    }

    private void CheckRank(int rank, string name)
    {
        if ((uint)rank >= (uint)Size)
        {
            throw new ArgumentOutOfRangeException(name, $"{name}: expected a rank from 0 to {Size - 1}, actual {rank}.");
        }
    }

    private static int CheckedBytes<T>(long count, string name) where T : unmanaged
    {
        long bytes = count * Unsafe.SizeOf<T>();
        return bytes <= int.MaxValue ? (int)bytes
            : throw new ArgumentOutOfRangeException(name, $"{name}: expected at most {int.MaxValue} bytes, actual {bytes}.");
    }

    private nint Operation(ReductionOperation operation) => operation switch
    {
        ReductionOperation.Sum => _constants.OpSum,
        ReductionOperation.Max => _constants.OpMax,
        ReductionOperation.Min => _constants.OpMin,
        ReductionOperation.LogicalAnd => _constants.OpLogicalAnd,
        _ => throw new ArgumentOutOfRangeException(nameof(operation), $"operation: expected a ReductionOperation, actual {operation}."),
    };

    private nint Datatype<T>() where T : unmanaged =>
        typeof(T) == typeof(int) ? _constants.Int32
        : typeof(T) == typeof(long) ? _constants.Int64
        : typeof(T) == typeof(float) ? _constants.Float
        : typeof(T) == typeof(double) ? _constants.Double
        : throw new NotSupportedException($"T: expected int, long, float or double for a reduction, actual {typeof(T).Name}");
}
