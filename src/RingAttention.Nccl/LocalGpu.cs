using RingAttention.Cuda;

namespace RingAttention.Nccl;

/// <summary>
/// This process's GPU as one rank of the NCCL ring: the device its local rank selects
/// (<see cref="GpuPlacement.DeviceFor"/>), opened as a backend, and the claim every rank's placement is judged by.
/// </summary>
public static class LocalGpu
{
    /// <summary>
    /// Looks for the GPU of rank <paramref name="rank"/> (local rank <paramref name="localRank"/> on
    /// <paramref name="host"/>) and opens it when CUDA and NCCL are usable here; <paramref name="backend"/> is then
    /// the caller's to dispose (null otherwise). The returned claim says what was found, for
    /// <see cref="NcclBootstrap.Agree"/>.
    /// </summary>
    public static GpuClaim Open(int rank, string host, int localRank, out CudaBackend? backend)
    {
        backend = null;
        string? unavailable = CudaAvailability.Problem() ?? NcclLibrary.Problem();
        if (unavailable is not null)
        {
            return new GpuClaim(rank, host, localRank, 0, null, null, unavailable);
        }
        int count = CudaContext.GetDeviceCount();
        if (GpuPlacement.DeviceFor(localRank, count) is not int device)
        {
            return new GpuClaim(rank, host, localRank, count, null, null, null);
        }
        try
        {
            backend = CudaBackend.Create(device);
        }
        catch (CudaUnavailableException e)
        {
            return new GpuClaim(rank, host, localRank, count, device, null, e.Reason);
        }
        return new GpuClaim(rank, host, localRank, count, device, CudaContext.DeviceUuid(device), null);
    }
}
