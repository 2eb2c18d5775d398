using RingAttention.Cuda;
using RingAttention.Cuda.Native;

namespace RingAttention.Cuda.Tests;

/// <summary>What a test needs: NVRTC (must be present when RINGATTN_REQUIRE_NVRTC=1) or a GPU (skips elsewhere).</summary>
internal static class Requirements
{
    /// <summary>Skips when NVRTC is missing, or fails when RINGATTN_REQUIRE_NVRTC=1 (CI: nothing that can run may skip).</summary>
    public static void Nvrtc()
    {
        if (NativeLibraries.NvrtcName(out string? error) is not null)
        {
            return;
        }
        if (Environment.GetEnvironmentVariable("RINGATTN_REQUIRE_NVRTC") == "1")
        {
            Assert.Fail($"RINGATTN_REQUIRE_NVRTC=1 but NVRTC is missing: {error}");
        }
        Skip.If(true, $"NVRTC is missing: {error}");
    }

    /// <summary>
    /// Skips, with the reason, where no usable GPU is present, or fails when RINGATTN_REQUIRE_GPU=1 (tests/run.sh's
    /// software-GPU pass: a GPU test that skips there would hide a broken software GPU).
    /// </summary>
    public static void Gpu()
    {
        string? problem = CudaAvailability.Problem();
        if (problem is not null && Environment.GetEnvironmentVariable("RINGATTN_REQUIRE_GPU") == "1")
        {
            Assert.Fail($"RINGATTN_REQUIRE_GPU=1 but no GPU is usable: {problem}");
        }
        Skip.If(problem is not null, $"no usable GPU: {problem}");
    }
}
