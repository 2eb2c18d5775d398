using RingAttention.Cuda;
using RingAttention.Cuda.Diagnostics;

namespace RingAttention.Cli;

/// <summary>The CUDA facts of <c>ringattn info</c>: driver, devices, NVRTC, or why CUDA cannot be used here.</summary>
internal static class CudaInfo
{
    public static IEnumerable<(string Name, string Value)> Facts()
    {
        var facts = new List<(string, string)>();
        string? problem = CudaAvailability.Problem();
        facts.Add(("nvrtc", CudaAvailability.NvrtcDescription()));
        try
        {
            int count = CudaContext.GetDeviceCount();
            var (major, minor) = CudaContext.DriverVersion();
            facts.Add(("cuda driver", $"CUDA {major}.{minor}, {count} device(s)"));
            for (int device = 0; device < count; device++)
            {
                using var context = new CudaContext(device);
                var d = context.Device;
                double? peak = KernelBenchmark.PeakTflops(d);
                facts.Add(($"cuda device {device}", $"{d.Name}, {d.Architecture}, {d.Multiprocessors} SMs at {d.ClockKHz / 1000} MHz, " +
                    $"{d.TotalMemory / (1024.0 * 1024 * 1024):F1} GiB" + (peak is null ? "" : $", dense bf16 peak {peak:F0} TFLOP/s")));
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or RingAttention.Cuda.Native.CudaException)
        {
            facts.Add(("cuda driver", "unavailable: " + (problem ?? e.Message)));
        }
        facts.Add(("backend cuda", problem is null ? "available" : "unavailable: " + problem));
        return facts;
    }
}
