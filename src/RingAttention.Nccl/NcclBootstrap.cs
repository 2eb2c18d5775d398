using System.Text.Json;
using RingAttention.Cuda;
using RingAttention.Mpi;

namespace RingAttention.Nccl;

/// <summary>
/// Sets up the NCCL ring over MPI, collectively: every rank's GPU claim is gathered and judged the same way on every
/// rank (<see cref="Agree"/>), rank 0's unique id is broadcast (<see cref="ShareUniqueId"/>), and the communicator
/// is created by all ranks at once (<see cref="Connect"/>). MPI carries only these few bytes; K/V blocks then
/// travel over NCCL.
/// </summary>
public static class NcclBootstrap
{
    /// <summary>Rank 0's id, on every rank: rank 0 calls <paramref name="create"/> (NCCL's own, or a stand-in in tests) and broadcasts its 128 bytes.</summary>
    public static NcclUniqueId ShareUniqueId(Communicator world, Func<NcclUniqueId> create)
    {
        ArgumentNullException.ThrowIfNull(world);
        ArgumentNullException.ThrowIfNull(create);
        byte[] bytes = world.Rank == 0 ? create().ToArray() : new byte[NcclUniqueId.Size];
        world.Broadcast(bytes, root: 0);
        return NcclUniqueId.FromBytes(bytes);
    }

    /// <summary>
    /// Gathers every rank's <paramref name="claim"/> on rank 0, which judges them (<see cref="GpuPlacement.Decide"/>)
    /// and broadcasts the verdict: every rank returns the same one, so all ranks go on, fall back or fail together.
    /// </summary>
    public static GpuVerdict Agree(Communicator world, GpuClaim claim)
    {
        ArgumentNullException.ThrowIfNull(world);
        ArgumentNullException.ThrowIfNull(claim);
        var claims = world.GatherVariable(JsonSerializer.SerializeToUtf8Bytes(claim), root: 0);
        byte[] verdict = claims is null ? [] : JsonSerializer.SerializeToUtf8Bytes(
            GpuPlacement.Decide(claims.Select(bytes => JsonSerializer.Deserialize<GpuClaim>(bytes)!).ToArray()));
        int length = verdict.Length;
        world.Broadcast(ref length, root: 0);
        if (world.Rank != 0)
        {
            verdict = new byte[length];
        }
        world.Broadcast(verdict, root: 0);
        return JsonSerializer.Deserialize<GpuVerdict>(verdict)!;
    }

    /// <summary>
    /// Creates the NCCL communicator of all ranks of <paramref name="world"/> on <paramref name="backend"/>'s device
    /// (collective) and returns this rank's ring endpoint. Creation waits for every rank to join; if it has not
    /// completed within <paramref name="timeout"/>, <paramref name="abortJob"/> is called with the cause and must end
    /// the job (it is called on another thread while this one is blocked in NCCL). The endpoint uses the same
    /// timeout and abort action for its exchanges.
    /// </summary>
    public static NcclRingTransport Connect(Communicator world, CudaBackend backend, TimeSpan timeout, Action<string> abortJob)
    {
        ArgumentNullException.ThrowIfNull(world);
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(abortJob);
        var id = ShareUniqueId(world, NcclLibrary.CreateUniqueId);
        // NCCL takes the device from the calling thread's current context.
        backend.Context.SetCurrent();
        NcclCommunicator communicator;
        using (new Watchdog(timeout, () => abortJob(
            $"rank {world.Rank}: the NCCL communicator of {world.Size} ranks was not created within {timeout.TotalSeconds:F0} s: a rank did not join, " +
            "or NCCL could not connect the ranks (check NCCL_SOCKET_IFNAME and NCCL_IB_HCA; NCCL_DEBUG=INFO shows why)")))
        {
            communicator = new NcclCommunicator(world.Size, world.Rank, id);
        }
        try
        {
            int device = communicator.Device;
            if (device != backend.Context.DeviceId)
            {
                throw new InvalidOperationException($"rank {world.Rank}: NCCL chose CUDA device {device}, but the backend runs on device {backend.Context.DeviceId}");
            }
            return new NcclRingTransport(communicator, backend, timeout, abortJob);
        }
        catch
        {
            communicator.Abort();
            throw;
        }
    }
}
