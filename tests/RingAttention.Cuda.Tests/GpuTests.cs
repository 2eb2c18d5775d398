using RingAttention.Cuda.Diagnostics;
using RingAttention.Cuda.Kernels;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Tests;
using RingAttention.TestSupport;
using Xunit.Abstractions;

namespace RingAttention.Cuda.Tests;

/// <summary>The GPU path end to end: these run wherever a usable GPU is present and skip, with the reason, elsewhere.</summary>
public sealed class GpuTests(ITestOutputHelper output)
{
    /// <summary>
    /// The kernel suite every backend runs (tests/Shared/KernelSuite.cs) on the GPU. The software GPU
    /// (tools/gpu-emulator) runs a small grid that still crosses every kernel path (fp32 SIMT, bf16 tensor cores with
    /// several K/V tiles, the causal diagonal, GQA, finalize): the one tools/gpu-emulator/mutations.sh runs against
    /// each injected bug. A GPU runs the full grid.
    /// </summary>
    public sealed class Kernels(ITestOutputHelper output) : KernelSuite(output)
    {
        private bool _software;

        protected override IAttentionBackend CreateBackend()
        {
            Requirements.Gpu();
            var gpu = CudaBackend.Create();
            _software = gpu.Context.Device.Name.Contains("software GPU", StringComparison.Ordinal);
            return gpu;
        }

        protected override IReadOnlyList<ElementType> StorageTypes => _software ? [ElementType.Float32, ElementType.BFloat16] : base.StorageTypes;

        protected override IReadOnlyList<int> HeadDims => _software ? [64] : [.. base.HeadDims, 200];

        protected override IReadOnlyList<int> Lengths => _software ? [70, 333] : base.Lengths;
    }

    public static TheoryData<int> TargetedArchitectures() => [.. DeviceLimits.Targeted.Select(d => d.Architecture)];

    /// <summary>
    /// The tensor-core variants whose tiles depend on the device (head dim 128 causal; head dim 256), as each targeted
    /// device chooses them (KernelSpecs.TensorCoreTiles), run on this GPU against float64. The software GPU runs every
    /// device's choice whatever compute capability it reports, so CI executes the variants each device would launch.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(TargetedArchitectures))]
    public void DeviceDependentVariantsMatchTheOracle(int architecture)
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        var device = DeviceLimits.Targeted.Single(d => d.Architecture == architecture);
        gpu.VariantDevice = device;
        (int HeadDim, bool Causal)[] shapes = [(128, true), (256, true), (256, false)];
        var variants = shapes.Select(s => gpu.VariantFor(Shapes.Params(s.HeadDim, 200, 200, heads: 2, kvHeads: 1, causal: s.Causal))).ToArray();
        int shared = variants.Max(v => v.Spec.SharedBytes(v, v.HeadDim));
        Skip.If(shared > gpu.Context.Device.MaxSharedMemoryPerBlock, $"{device}'s variants need {shared} B of shared memory per block; this GPU allows {gpu.Context.Device.MaxSharedMemoryPerBlock}");
        for (int i = 0; i < shapes.Length; i++)
        {
            var (d, causal) = shapes[i];
            Assert.Equal(KernelVariant.TensorCore(ElementType.BFloat16, d, causal, device), variants[i]);
            var problem = new TestProblem(new AttentionOptions { Heads = 2, KvHeads = 1, HeadDim = d, Causal = causal, ElementType = ElementType.BFloat16 }, 200);
            var (o, lse) = problem.Run(gpu, SequenceLayouts.Create(LayoutKind.Contiguous, problem.N, 1));
            double errorO = TestProblem.MaxAbs(o, problem.Reference.O), errorLse = TestProblem.MaxAbs(lse, problem.Reference.Lse);
            var tolerance = problem.StorageTolerance;
            output.WriteLine($"{device}: {variants[i].Name}: O error {errorO:E3} (tolerance {tolerance.O:E3}), LSE error {errorLse:E3} (tolerance {tolerance.Lse:E3})");
            Assert.True(errorO <= tolerance.O, $"{variants[i].Name}: O error {errorO:E3} exceeds {tolerance.O:E3}");
            Assert.True(errorLse <= tolerance.Lse, $"{variants[i].Name}: LSE error {errorLse:E3} exceeds {tolerance.Lse:E3}");
        }
    }

    [SkippableFact]
    public void EmulatedRingOnOneGpuMatchesSingleDeviceForEveryLayout()
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        // The software GPU (tools/gpu-emulator) runs the quick sweep: every layout, 3 ranks; a GPU runs them all.
        bool software = gpu.Context.Device.Name.Contains("software GPU", StringComparison.Ordinal);
        AssertAllPassed(GpuChecks.RingAgainstSingleDevice(gpu, quick: software));
    }

    [SkippableFact]
    public void DeviceMemoryRoundTripsAndFills()
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        using var buffer = gpu.Allocate(64);
        var data = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
        gpu.Upload(data, buffer);
        gpu.Fill(buffer, 16, 4, 1.5f);
        var back = new byte[64];
        gpu.Download(buffer, 0, back);
        Assert.Equal(data[..16], back[..16]);
        Assert.Equal(1.5f, BitConverter.ToSingle(back, 16));
        Assert.Equal(1.5f, BitConverter.ToSingle(back, 28));
        Assert.Equal(data[32..], back[32..]);
    }

    private void AssertAllPassed(IEnumerable<CheckResult> checks)
    {
        var failed = new List<CheckResult>();
        int count = 0;
        foreach (var check in checks)
        {
            count++;
            output.WriteLine($"{(check.Passed ? "pass" : "FAIL")} {check.Name}: {check.Detail}");
            if (!check.Passed)
            {
                failed.Add(check);
            }
        }
        Assert.True(count > 0);
        Assert.True(failed.Count == 0, string.Join('\n', failed.Select(f => $"{f.Name}: {f.Detail}")));
    }
}
