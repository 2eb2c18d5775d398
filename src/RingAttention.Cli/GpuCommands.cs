using CommandLine;
using RingAttention.Cpu;
using RingAttention.Cuda;
using RingAttention.Cuda.Diagnostics;

namespace RingAttention.Cli;

/// <summary>Options of <c>ringattn selftest</c>.</summary>
[Verb("selftest", Hidden = true, HelpText = "GPU self-test for hosts without .NET: CUDA kernels vs the CPU backend, and the emulated ring on one GPU vs single-device attention.")]
public sealed class SelfTestOptions
{
    /// <summary>Smaller shape grid.</summary>
    [Option("quick", Default = false, HelpText = "A smaller shape grid.")]
    public bool Quick { get; set; }

    /// <summary>CUDA device ordinal.</summary>
    [Option("device", Default = 0, HelpText = "CUDA device ordinal.")]
    public int Device { get; set; }
}

/// <summary>Options of <c>ringattn bench-gpu</c>.</summary>
[Verb("bench-gpu", Hidden = true, HelpText = "Forward-kernel TFLOP/s on the GPU (bf16, FlashAttention's benchmark convention).")]
public sealed class BenchGpuOptions
{
    /// <summary>Head dims.</summary>
    [Option("head-dims", Separator = ',', Default = new[] { 64, 128 }, HelpText = "Head dims, comma-separated.")]
    public IEnumerable<int> HeadDims { get; set; } = [];

    /// <summary>Sequence lengths.</summary>
    [Option("lengths", Separator = ',', Default = new[] { 4096, 8192, 16384, 32768, 65536 }, HelpText = "Sequence lengths N, comma-separated.")]
    public IEnumerable<int> Lengths { get; set; } = [];

    /// <summary>Timed calls per point.</summary>
    [Option("repeats", Default = 5, HelpText = "Timed calls per point (the median is reported).")]
    public int Repeats { get; set; }

    /// <summary>CUDA device ordinal.</summary>
    [Option("device", Default = 0, HelpText = "CUDA device ordinal.")]
    public int Device { get; set; }
}

/// <summary>The GPU verbs: the self-test and the kernel benchmark (see launch/gpu-selftest.sh).</summary>
internal static class GpuCommands
{
    public static int SelfTest(SelfTestOptions options)
    {
        using var gpu = CudaBackend.Create(options.Device);
        using var cpu = new CpuBackend();
        Console.WriteLine($"selftest on {gpu.Description}");
        int passed = 0, failed = 0;
        foreach (var check in GpuChecks.KernelAgainstCpu(gpu, cpu, options.Quick).Concat(GpuChecks.RingAgainstSingleDevice(gpu, options.Quick)))
        {
            Console.WriteLine($"{(check.Passed ? "pass" : "FAIL")}  {check.Name,-52} {check.Detail}");
            _ = check.Passed ? passed++ : failed++;
        }
        Console.WriteLine($"{passed} passed, {failed} failed");
        return failed == 0 ? ExitCodes.Ok : ExitCodes.VerificationFailed;
    }

    public static int BenchGpu(BenchGpuOptions options)
    {
        var headDims = options.HeadDims.ToArray();
        var lengths = options.Lengths.ToArray();
        OptionCheck.That(headDims.All(d => d is >= 8 and <= 256 && d % 8 == 0), "--head-dims", "multiples of 8 from 8 to 256", string.Join(',', headDims));
        OptionCheck.That(lengths.All(n => n >= 1), "--lengths", "positive lengths", string.Join(',', lengths));
        OptionCheck.That(options.Repeats >= 1, "--repeats", "at least 1", options.Repeats);
        using var gpu = CudaBackend.Create(options.Device);
        double? peak = KernelBenchmark.PeakTflops(gpu.Context.Device);
        Console.WriteLine($"bench-gpu on {gpu.Description}");
        Console.WriteLine($"dense bf16 peak: {(peak is null ? "unknown for this architecture" : $"{peak:F0} TFLOP/s (SMs x clock x FLOP/clk/SM)")}");
        gpu.Warm();
        Console.WriteLine($"{"head_dim",8} {"N",7} {"causal",6} {"B",4} {"H",4} {"kernel",-34} {"ms",9} {"TFLOP/s",8} {"% peak",7}");
        foreach (var point in KernelBenchmark.Run(gpu, headDims, lengths, options.Repeats))
        {
            string ofPeak = peak is null ? "-" : (100 * point.Tflops / peak.Value).ToString("F1");
            Console.WriteLine($"{point.HeadDim,8} {point.SequenceLength,7} {point.Causal,6} {point.Batch,4} {point.Heads,4} {point.Kernel,-34} {point.Milliseconds,9:F3} {point.Tflops,8:F1} {ofPeak,7}");
        }
        return ExitCodes.Ok;
    }
}
