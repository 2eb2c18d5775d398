using System.Collections.Concurrent;
using RingAttention.Cuda.Kernels;
using Xunit.Abstractions;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// Every kernel variant each targeted device chooses (sm_80, sm_86, sm_90: <see cref="DeviceLimits.Targeted"/>),
/// compiled through the project's own NVRTC binding for that architecture, with ptxas's report: success and zero
/// spills asserted, registers printed. Runs without a GPU.
/// </summary>
public sealed class KernelCompilationTests(ITestOutputHelper output)
{
    public static TheoryData<int> Architectures() => [.. DeviceLimits.Targeted.Select(d => d.Architecture)];

    [SkippableTheory]
    [MemberData(nameof(Architectures))]
    public void EveryVariantCompilesWithoutSpills(int architecture)
    {
        Requirements.Nvrtc();
        var device = DeviceLimits.Targeted.Single(d => d.Architecture == architecture);
        var target = new CompileTarget(architecture, Cubin: true);
        Skip.IfNot(CudaRuntimeCompiler.SupportedArchitectures().Contains(architecture), $"this NVRTC cannot compile for sm_{architecture}");
        var variants = KernelVariant.All(device).ToArray();
        var results = new ConcurrentDictionary<KernelVariant, CompiledKernel>();
        Parallel.ForEach(variants, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            variant => results[variant] = KernelCompiler.Compile(variant, target, verbose: true));

        output.WriteLine($"{"variant",-36} {"arch",-6} {"regs",5} {"spill st",9} {"spill ld",9} {"smem B",7} {"cubin B",8}");
        var failures = new List<string>();
        foreach (var variant in variants)
        {
            var compiled = results[variant];
            var report = compiled.Report;
            Assert.True(compiled.IsCubin);
            Assert.NotEmpty(compiled.Image);
            Assert.True(report is not null, $"{variant.Name}: no ptxas report in the log:\n{compiled.Log}");
            int shared = variant.Kind == KernelKind.TensorCore ? LaunchGeometry.Forward(variant, Shapes.Params(variant.HeadDim, 1000, 1000)).SharedBytes : 0;
            Assert.InRange(shared, 0, device.MaxSharedBytes);
            output.WriteLine($"{variant.Name,-36} sm_{architecture,-3} {report!.Registers,5} {report.SpillStoreBytes,9} {report.SpillLoadBytes,9} {shared,7} {compiled.Image.Length,8}");
            if (report.SpillStoreBytes != 0 || report.SpillLoadBytes != 0)
            {
                failures.Add($"{variant.Name} on sm_{architecture}: {report.SpillStoreBytes} B spill stores, {report.SpillLoadBytes} B spill loads");
            }
        }
        Assert.True(failures.Count == 0, "register spills:\n" + string.Join('\n', failures));
        Assert.Equal(30, variants.Length);
    }

    [SkippableFact]
    public void CompileErrorCarriesNvrtcLog()
    {
        Requirements.Nvrtc();
        using var program = new CudaRuntimeCompiler("extern \"C\" __global__ void broken() { undefined_name = 1; }", "broken.cu");
        var error = Assert.Throws<Native.NvrtcException>(() => program.Compile(["-arch=compute_80"]));
        Assert.Equal(Native.NvrtcResult.Compilation, error.Status);
        Assert.Contains("undefined_name", error.Log);
        Assert.Contains("broken.cu", error.Message);
    }

    [SkippableFact]
    public void VersionAndArchitecturesAreReported()
    {
        Requirements.Nvrtc();
        var (major, _) = CudaRuntimeCompiler.Version();
        Assert.InRange(major, 11, 99);
        Assert.Contains(80, CudaRuntimeCompiler.SupportedArchitectures());
    }
}
