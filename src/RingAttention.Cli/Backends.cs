using RingAttention.Cpu;
using RingAttention.Cuda;
using RingAttention.Kernels;

namespace RingAttention.Cli;

/// <summary>Chooses the device backend.</summary>
internal static class Backends
{
    /// <summary>
    /// The backend <c>--backend</c> asks for. CUDA fails fast, with the reason, where it cannot run (no driver, no
    /// device, no NVRTC); auto falls back to the CPU and says so on stderr.
    /// </summary>
    public static IAttentionBackend Create(RunOptions run)
    {
        switch (run.Backend)
        {
            case BackendKind.Cuda:
                return CudaBackend.Create(run.Device);
            case BackendKind.Auto:
                string? problem = CudaAvailability.Problem(run.Device);
                if (problem is null)
                {
                    return CudaBackend.Create(run.Device);
                }
                Console.Error.WriteLine($"ringattn: --backend auto: CUDA unavailable ({problem}); using the CPU backend");
                return new CpuBackend(run.Threads);
            default:
                return new CpuBackend(run.Threads);
        }
    }
}
