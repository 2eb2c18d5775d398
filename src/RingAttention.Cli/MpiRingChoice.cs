using RingAttention.Cpu;
using RingAttention.Cuda;
using RingAttention.Kernels;
using RingAttention.Mpi;
using RingAttention.Nccl;
using RingAttention.Ring;

namespace RingAttention.Cli;

/// <summary>
/// The backend and the ring endpoint --backend asks for under MPI. CPU: the ring over MPI. CUDA or auto: every rank
/// opens the GPU of its local rank and the ranks agree on the placement (<see cref="NcclBootstrap"/>); then the ring
/// runs over NCCL, or, when CUDA or NCCL is unavailable on some rank, auto runs every rank on the CPU over MPI (and
/// says so) while cuda fails on every rank with the reason. A placement that does not give each rank its own GPU
/// fails in both cases.
/// </summary>
internal static class MpiRingChoice
{
    private const string OverMpi = "ring over MPI";

    /// <summary>Opens this rank's backend and ring endpoint; <paramref name="abortJob"/> ends the job from a watchdog.</summary>
    public static (IAttentionBackend Backend, IRingTransport Transport, string Ring) Open(RunOptions run, MpiEnvironment environment, TimeSpan timeout, Action<string> abortJob)
    {
        var world = environment.World;
        if (run.Backend == BackendKind.Cpu)
        {
            return (new CpuBackend(run.Threads), new MpiRingTransport(world, timeout), OverMpi);
        }
        OptionCheck.That(!run.WasGiven("device"), "--device", "no --device under MPI (each rank uses the GPU of its local rank on its node)", run.Device);
        var claim = LocalGpu.Open(world.Rank, Environment.MachineName, environment.LocalRank, out var gpu);
        try
        {
            var verdict = NcclBootstrap.Agree(world, claim);
            switch (verdict.Kind)
            {
                case GpuVerdictKind.Usable:
                    var transport = NcclBootstrap.Connect(world, gpu!, timeout, abortJob);
                    NcclLibrary.TryGetVersion(out string version, out _);
                    return (gpu!, transport, $"ring over NCCL {version}, one GPU per rank");
                case GpuVerdictKind.Unavailable when run.Backend == BackendKind.Auto:
                    gpu?.Dispose();
                    if (world.Rank == 0)
                    {
                        Console.Error.WriteLine($"ringattn: --backend auto: CUDA unavailable: {verdict.Message}; every rank uses the CPU backend, {OverMpi}");
                    }
                    return (new CpuBackend(run.Threads), new MpiRingTransport(world, timeout), OverMpi);
                case GpuVerdictKind.Unavailable:
                    throw new CudaUnavailableException($"{verdict.Message}; --backend cpu (or auto) runs every rank on the CPU, {OverMpi}");
                default:
                    throw new InvalidInputException("--backend", $"--backend {run.Backend.ToString().ToLowerInvariant()}: {verdict.Message}");
            }
        }
        catch
        {
            gpu?.Dispose();
            throw;
        }
    }
}
