using RingAttention.Cuda.Kernels;
using RingAttention.Cuda.Native;
using RingAttention.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>Everything of the CUDA backend that runs without a GPU: variant choice, launch geometry, cache keys, probing.</summary>
public sealed class HostSideTests
{
    [Theory]
    [InlineData(8, 64)]
    [InlineData(64, 64)]
    [InlineData(72, 128)]
    [InlineData(128, 128)]
    [InlineData(136, 192)]
    [InlineData(200, 256)]
    [InlineData(256, 256)]
    public void HeadDimsUseTheSmallestCompiledSizeThatHoldsThem(int headDim, int compiled)
    {
        Assert.Equal(compiled, KernelVariant.CompiledHeadDim(headDim));
        var variant = KernelVariant.ForForward(Shapes.Params(headDim, 100, 100), DeviceLimits.Sm80, out string? why);
        Assert.Null(why);
        Assert.Equal(KernelKind.TensorCore, variant.Kind);
        Assert.Equal(compiled, variant.HeadDim);
    }

    [Fact]
    public void Fp32OddHeadDimsAndMisalignmentTakeTheFp32Kernel()
    {
        Assert.Equal(KernelKind.Fp32, KernelVariant.ForForward(Shapes.Params(64, 10, 10, type: ElementType.Float32), DeviceLimits.Sm80, out _).Kind);
        Assert.Equal(KernelKind.Fp32, KernelVariant.ForForward(Shapes.Params(20, 10, 10), DeviceLimits.Sm80, out string? oddDim).Kind);
        Assert.Contains("multiple of 8", oddDim);
        var shifted = Shapes.Params(64, 10, 10) with { K = 0x20002 };
        Assert.Equal(KernelKind.Fp32, KernelVariant.ForForward(shifted, DeviceLimits.Sm80, out string? misaligned).Kind);
        Assert.Contains("16-byte", misaligned);
        var oddStride = Shapes.Params(64, 10, 10) with { QBatchStride = 4 };
        Assert.Equal(KernelKind.Fp32, KernelVariant.ForForward(oddStride, DeviceLimits.Sm80, out _).Kind);
        Assert.Equal(ElementType.Float16, KernelVariant.ForForward(Shapes.Params(20, 10, 10, type: ElementType.Float16), DeviceLimits.Sm80, out _).ElementType);
    }

    [Fact]
    public void CausalFlagSelectsTheCausalVariant()
    {
        Assert.True(KernelVariant.ForForward(Shapes.Params(128, 10, 10, causal: true), DeviceLimits.Sm90, out _).Causal);
        Assert.False(KernelVariant.ForForward(Shapes.Params(128, 10, 10, causal: false), DeviceLimits.Sm90, out _).Causal);
    }

    [Fact]
    public void ForwardGeometryCoversEveryQueryRow()
    {
        var p = Shapes.Params(128, 1000, 500, heads: 6, kvHeads: 3, batch: 3);
        var variant = KernelVariant.TensorCore(ElementType.BFloat16, 128, causal: false, DeviceLimits.Sm80);
        var g = LaunchGeometry.Forward(variant, p);
        Assert.Equal(new Dim3(8, 6, 3), g.Grid);  // ceil(1000 / 128) query tiles
        Assert.Equal(new Dim3(128), g.Block);
        Assert.Equal((128 + 2 * 64) * 128 * 2, g.SharedBytes);

        var fp32 = LaunchGeometry.Forward(KernelVariant.Fp32(ElementType.Float32), p with { HeadDim = 7 });
        Assert.Equal(new Dim3(63, 6, 3), fp32.Grid);  // ceil(1000 / 16)
        Assert.Equal((16 * 7 + 32 * 8 + 32 * 7) * 4, fp32.SharedBytes);
    }

    [Fact]
    public void SharedMemoryFitsEveryTargetedDevice()
    {
        // Each device's tensor-core variants fit its opt-in shared memory (sm_86: 99 KB), and the fp32 kernel at head dim 256 fits the smallest.
        foreach (var device in DeviceLimits.Targeted)
        {
            foreach (var variant in KernelVariant.All(device).Where(v => v.Kind == KernelKind.TensorCore))
            {
                Assert.InRange(LaunchGeometry.Forward(variant, Shapes.Params(variant.HeadDim, 10, 10)).SharedBytes, 1, device.MaxSharedBytes);
            }
        }
        Assert.InRange(LaunchGeometry.Forward(KernelVariant.Fp32(ElementType.Float32), Shapes.Params(256, 10, 10)).SharedBytes, 1, DeviceLimits.Sm86.MaxSharedBytes);
    }

    [Theory]
    [InlineData(80, 128, true, 128, 32, 4)]
    [InlineData(86, 128, true, 128, 32, 4)]
    [InlineData(90, 128, true, 128, 64, 4)]
    [InlineData(80, 128, false, 128, 64, 4)]
    [InlineData(90, 64, true, 128, 64, 4)]
    [InlineData(80, 256, false, 128, 64, 8)]
    [InlineData(90, 256, true, 128, 64, 8)]
    [InlineData(86, 256, true, 64, 64, 4)]
    [InlineData(86, 192, false, 64, 64, 4)]
    public void TilesFollowTheDevice(int architecture, int headDim, bool causal, int blockM, int blockN, int warps)
    {
        var device = DeviceLimits.Targeted.Single(d => d.Architecture == architecture);
        var variant = KernelVariant.ForForward(Shapes.Params(headDim, 100, 100, causal: causal), device, out _);
        Assert.Equal(new TileShape(blockM, blockN, warps), variant.Tiles);
        Assert.Equal(warps * 32, variant.Threads);
        // A newer device takes its nearest older architecture's row; a device without the shared memory of any row is refused by name.
        Assert.Equal(variant.Tiles, KernelVariant.TensorCore(ElementType.Float16, headDim, causal, device with { Architecture = architecture + 1 }).Tiles);
        var error = Assert.Throws<NotSupportedException>(() => KernelVariant.TensorCore(ElementType.BFloat16, headDim, causal, device with { MaxSharedBytes = 16 * 1024 }));
        Assert.Contains($"head dim {headDim}", error.Message);
    }

    [Fact]
    public void FinalizeGeometryHasOneWarpPerRow()
    {
        var g = LaunchGeometry.Finalize(new FlashFinalizeParams { Batch = 2, Heads = 3, HeadDim = 64, SeqLenQ = 5 });
        Assert.Equal(new Dim3(4), g.Grid);  // 30 rows, 8 per block
        Assert.Equal(new Dim3(32, 8), g.Block);
    }

    [Fact]
    public void GridLimitsAreChecked()
    {
        var variant = KernelVariant.TensorCore(ElementType.BFloat16, 64, causal: false, DeviceLimits.Sm80);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => LaunchGeometry.Forward(variant, Shapes.Params(64, 10, 10, heads: 70000, kvHeads: 1)));
        Assert.Contains("Heads", error.Message);
    }

    [Fact]
    public void EveryVariantHasADistinctCacheKeyAndFile()
    {
        var target = new CompileTarget(90, Cubin: true);
        var variants = DeviceLimits.Targeted.SelectMany(KernelVariant.All).Distinct().ToArray();
        var keys = variants.Select(v => KernelCache.Key(v, target, (11, 8))).ToArray();
        Assert.Equal(variants.Length, keys.Distinct().Count());
        var cache = new KernelCache("/tmp/cache");
        Assert.Equal(variants.Length, variants.Zip(keys, (v, k) => cache.PathFor(v, target, k)).Distinct().Count());
    }

    [Fact]
    public void CacheKeyDependsOnSourcesHeadersOptionsTargetAndNvrtcVersion()
    {
        var headers = new Dictionary<string, string> { ["a.cuh"] = "int a;" };
        string[] options = ["-DX=1"];
        var sm80 = new CompileTarget(80, true);
        string key = KernelCache.Key("src", headers, options, sm80, (11, 8));
        Assert.Equal(key, KernelCache.Key("src", new Dictionary<string, string> { ["a.cuh"] = "int a;" }, ["-DX=1"], sm80, (11, 8)));
        Assert.NotEqual(key, KernelCache.Key("src2", headers, options, sm80, (11, 8)));
        Assert.NotEqual(key, KernelCache.Key("src", new Dictionary<string, string> { ["a.cuh"] = "int b;" }, options, sm80, (11, 8)));
        Assert.NotEqual(key, KernelCache.Key("src", headers, ["-DX=2"], sm80, (11, 8)));
        Assert.NotEqual(key, KernelCache.Key("src", headers, options, new CompileTarget(90, true), (11, 8)));
        Assert.NotEqual(key, KernelCache.Key("src", headers, options, new CompileTarget(80, false), (11, 8)));
        Assert.NotEqual(key, KernelCache.Key("src", headers, options, sm80, (12, 4)));
    }

    [Fact]
    public void CacheRoundTripsAndRecoversFromAMissingFolder()
    {
        string directory = Path.Combine(Path.GetTempPath(), "ringattn-cache-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var cache = new KernelCache(directory);
            var variant = KernelVariant.Finalize();
            var target = new CompileTarget(80, true);
            string path = cache.PathFor(variant, target, KernelCache.Key(variant, target, (11, 8)));
            Assert.Null(cache.TryRead(path));
            Assert.True(cache.TryWrite(path, [1, 2, 3]));
            Assert.Equal([1, 2, 3], cache.TryRead(path));
            Assert.Empty(Directory.GetFiles(directory, "*.tmp"));
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Fact]
    public void CompileTargetIsTheDeviceOrTheNewestOlderAsPtx()
    {
        int[] supported = [50, 60, 70, 75, 80, 86, 87, 89, 90];
        Assert.Equal(new CompileTarget(90, true), CompileTarget.For(90, supported));
        Assert.Equal(new CompileTarget(86, true), CompileTarget.For(86, supported));
        Assert.Equal(new CompileTarget(90, false), CompileTarget.For(100, supported));
        Assert.Equal("-arch=compute_90", CompileTarget.For(120, supported).Option);
        Assert.Throws<NotSupportedException>(() => CompileTarget.For(35, supported));
    }

    [Fact]
    public void NvrtcSonamesAreProbedNewestFirst()
    {
        Assert.Equal(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"], NativeLibraries.NvrtcCandidates);
        Assert.Equal("/opt/nvrtc.so", NativeLibraries.NvrtcProbeOrder("/opt/nvrtc.so").First());
        Assert.Equal(NativeLibraries.NvrtcCandidates, NativeLibraries.NvrtcProbeOrder(null));
    }

    [Fact]
    public void ProbeTakesTheFirstLibraryThatLoads()
    {
        var tried = new List<string>();
        var (handle, name) = NativeLibraries.Probe(NativeLibraries.NvrtcCandidates, n =>
        {
            tried.Add(n);
            return n == "libnvrtc.so.11.2" ? 42 : 0;
        }, out string? error);
        Assert.Equal(42, handle);
        Assert.Equal("libnvrtc.so.11.2", name);
        Assert.Null(error);
        Assert.Equal(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"], tried);

        var none = NativeLibraries.Probe(NativeLibraries.NvrtcCandidates, _ => 0, out string? reason);
        Assert.Equal(0, none.Handle);
        Assert.Contains("libnvrtc.so.12", reason);
    }

    [Fact]
    public void PtxasReportIsParsed()
    {
        const string log = "ptxas info    : Compiling entry function 'k' for 'sm_80'\nptxas info    : Function properties for k\n" +
                           "ptxas         .     8 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads\nptxas info    : Used 255 registers, 1024 bytes smem, 568 bytes cmem[0]\n";
        Assert.Equal(new PtxasReport(255, 12, 16, 8, 1024), PtxasReport.Parse(log));
        Assert.Null(PtxasReport.Parse("no report"));
    }

    [Fact]
    public void ForwardArgumentsAreValidatedAtTheBoundary()
    {
        ForwardArguments.Validate(Shapes.Params(64, 10, 10));
        var error = Assert.Throws<ArgumentException>(() => ForwardArguments.Validate(Shapes.Params(64, 10, 10) with { KvHeads = 3 }));
        Assert.Contains("KvHeads", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ForwardArguments.Validate(Shapes.Params(64, 10, 10) with { HeadDim = 300 }));
        Assert.Throws<ArgumentException>(() => ForwardArguments.Validate(Shapes.Params(64, 10, 10) with { ScaleSoftmaxLog2 = -1 }));
        Assert.Throws<ArgumentException>(() => ForwardArguments.Validate(Shapes.Params(64, 10, 10) with { KPosStart = int.MaxValue - 100 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ForwardArguments.Validate(Shapes.Params(64, 10, 10) with { QPosStride = 0 }));
    }

    [SkippableFact]
    public void CudaBackendFailsFastWithTheReasonWithoutADriver()
    {
        string? problem = CudaAvailability.Problem();
        Skip.If(problem is null, "this machine has a usable GPU");
        var error = Assert.Throws<CudaUnavailableException>(() => CudaBackend.Create());
        Assert.Equal(problem, error.Reason);
        Assert.False(string.IsNullOrWhiteSpace(error.Reason));
    }

    [Fact]
    public void EveryKernelSourceAndHeaderIsEmbedded()
    {
        foreach (var file in new[] { "flash_fwd.cu", "flash_fwd_fp32.cu", "flash_finalize.cu" })
        {
            Assert.Contains("__global__", KernelSources.Get(file));
        }
        Assert.Equal(["block_info.cuh", "convert.cuh", "flash_params.cuh", "fragments.cuh", "kernel_traits.cuh", "mask.cuh", "ptx.cuh", "softmax.cuh"], KernelSources.Headers.Keys.Order());
    }
}
