using RingAttention.Cuda;

namespace RingAttention.Nccl.Tests;

/// <summary>What the GPU tests need: GPUs with the CUDA backend usable, and NCCL.</summary>
internal static class Gpus
{
    /// <summary>CUDA devices usable by the backend here (0 when CUDA is unavailable), with the reason when there are none.</summary>
    public static int Count(out string reason)
    {
        string? problem = CudaAvailability.Problem();
        if (problem is not null)
        {
            reason = problem;
            return 0;
        }
        reason = "";
        return CudaContext.GetDeviceCount();
    }

    /// <summary>
    /// Skips, with the reason, unless at least <paramref name="needed"/> GPUs and NCCL are usable here; fails instead
    /// when RINGATTN_REQUIRE_GPU=1 (tests/run.sh's software-GPU pass, where nothing may skip).
    /// </summary>
    public static int Require(int needed)
    {
        int count = Count(out string reason);
        string? missing = count < needed ? $"needs {needed} GPU(s) with the CUDA backend usable; this machine has {count}{(reason.Length > 0 ? $" ({reason})" : "")}"
            : NcclLibrary.Problem() is { } nccl ? $"needs NCCL: {nccl}" : null;
        if (missing is not null && Environment.GetEnvironmentVariable("RINGATTN_REQUIRE_GPU") == "1")
        {
            Assert.Fail($"RINGATTN_REQUIRE_GPU=1 forbids skipping: {missing}");
        }
        Skip.If(missing is not null, missing);
        return count;
    }

    /// <summary>
    /// Whether device 0 is the software GPU of tools/gpu-emulator (a CPU emulator: the tests then use problems small
    /// enough for it).
    /// </summary>
    public static bool IsSoftware => Software.Value;

    private static readonly Lazy<bool> Software = new(() =>
    {
        if (Count(out _) == 0)
        {
            return false;
        }
        using var context = new CudaContext(0);
        return context.Device.Name.Contains("software GPU", StringComparison.Ordinal);
    });

    /// <summary>Whether the CUDA backend and NCCL could run here (then the no-GPU behaviour cannot be observed).</summary>
    public static bool Usable => Count(out _) > 0 && NcclLibrary.Problem() is null;
}
