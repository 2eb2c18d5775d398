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

    /// <summary>Skips, with the reason, where no usable GPU is present.</summary>
    public static void Gpu()
    {
        string? problem = CudaAvailability.Problem();
        Skip.If(problem is not null, $"no usable GPU: {problem}");
    }
}
