using RingAttention.Cuda.Native;

namespace RingAttention.Cuda;

/// <summary>Whether this machine can run the CUDA backend, and why not: driver, devices, architecture, NVRTC.</summary>
public static class CudaAvailability
{
    /// <summary>The oldest compute capability the kernels target (mma.sync bf16, cp.async).</summary>
    public const int MinimumArchitecture = 80;

    /// <summary>Null when device <paramref name="device"/> is usable; otherwise one sentence saying why not.</summary>
    public static string? Problem(int device = 0)
    {
        if (!NativeLibraries.CudaLoads(out string? driverError))
        {
            return driverError;
        }
        int count;
        try
        {
            count = CudaContext.GetDeviceCount();
        }
        catch (CudaException e)
        {
            return $"the CUDA driver could not be initialised: {e.Message}";
        }
        if (count == 0)
        {
            return "the CUDA driver reports no devices";
        }
        if (device < 0 || device >= count)
        {
            return $"device {device} does not exist (this machine has {count} CUDA device(s))";
        }
        if (NativeLibraries.NvrtcName(out string? nvrtcError) is null)
        {
            return nvrtcError;
        }
        return null;
    }

    /// <summary>The NVRTC library and version, or why it cannot be used.</summary>
    public static string NvrtcDescription()
    {
        string? name = NativeLibraries.NvrtcName(out string? error);
        if (name is null)
        {
            return "unavailable: " + error;
        }
        var (major, minor) = CudaRuntimeCompiler.Version();
        var architectures = CudaRuntimeCompiler.SupportedArchitectures();
        return $"{major}.{minor} ({name}; sm_{architectures.Min()}..sm_{architectures.Max()})";
    }
}

/// <summary>The CUDA backend was asked for on a machine that cannot run it.</summary>
public sealed class CudaUnavailableException(string reason) : Exception($"CUDA backend unavailable: {reason}")
{
    /// <summary>Why CUDA cannot be used.</summary>
    public string Reason { get; } = reason;
}
