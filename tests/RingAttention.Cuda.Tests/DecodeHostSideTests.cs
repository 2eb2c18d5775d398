using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using RingAttention.Cuda.Decode;
using RingAttention.Cuda.Kernels;
using RingAttention.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>The decode kernels' host side, without a GPU: parameter layout, variants, splits and launch geometry, source rules.</summary>
public sealed partial class DecodeHostSideTests
{
    [Fact]
    public void DecodeParamsStartWithTheSharedQkvPart()
    {
        // The QKV part (112 bytes), 7 pointers, 8 ints/floats: no padding.
        Assert.Equal(0, (int)Marshal.OffsetOf<FlashDecodeParams>(nameof(FlashDecodeParams.Qkv)));
        Assert.Equal(112 + 7 * 8 + 8 * 4, Marshal.SizeOf<FlashDecodeParams>());
    }

    [Fact]
    public void HeadDims64And128AreCompiledInAndOthersReadAtRunTime()
    {
        Assert.Equal(64, KernelVariant.Decode(ElementType.BFloat16, 64).HeadDim);
        Assert.Equal(128, KernelVariant.Decode(ElementType.Float16, 128).HeadDim);
        Assert.Equal(0, KernelVariant.Decode(ElementType.Float32, 40).HeadDim);
        Assert.Equal(KernelVariant.Decode(ElementType.Float32, 40), KernelVariant.Decode(ElementType.Float32, 256));
        Assert.Equal("decode-bf16-d128", KernelVariant.Decode(ElementType.BFloat16, 128).Name);
        Assert.Contains(("RA_HEAD_DIM", 0), KernelVariant.Decode(ElementType.Float16, 200).Defines);
        Assert.Equal(10, KernelVariant.All(DeviceLimits.Sm80).Count(v => v.Kind is KernelKind.Decode or KernelKind.DecodeCombine));
    }

    [Theory]
    [InlineData(0, 1, 1, 132)]
    [InlineData(100, 1, 1, 132)]
    [InlineData(1_000_000, 1, 1, 132)]
    [InlineData(1_000_000, 4, 8, 132)]
    [InlineData(333, 4, 2, 8)]
    [InlineData(100_000_000, 1, 1, 132)]
    public void SplitsCoverTheCacheInWholeTiles(int cacheLength, int tokens, int heads, int multiprocessors)
    {
        var options = new AttentionOptions { Batch = 2, Heads = heads, KvHeads = 1, HeadDim = 64 };
        var (splits, keys) = CudaDecodeKernel.Splits(options, cacheLength, tokens, multiprocessors);
        Assert.InRange(splits, 1, CudaDecodeKernel.MaxSplits);
        Assert.True(keys >= CudaDecodeKernel.MinKeysPerSplit && keys % KernelSpecs.DecodeBlockN == 0, $"keys per split {keys}");
        Assert.True((long)splits * keys >= cacheLength, $"{splits} × {keys} < {cacheLength}");
        Assert.True((long)(splits - 1) * keys < Math.Max(1, cacheLength), "no split is empty but the only one");
    }

    [Fact]
    public void LongCachesSplitAcrossTheMultiprocessors()
    {
        // One KV head, one m-tile, batch 2: 132 SMs want about 132 splits of a million-token shard.
        var (splits, _) = CudaDecodeKernel.Splits(new AttentionOptions { Batch = 2, Heads = 8, KvHeads = 1, HeadDim = 128 }, 1 << 20, 1, 132);
        Assert.InRange(splits, 100, 160);
    }

    [Fact]
    public void GeometryPutsTheGroupInTheMDimension()
    {
        var p = new FlashDecodeParams
        {
            Qkv = new FlashQkvParams { Batch = 3, Heads = 32, KvHeads = 2, HeadDim = 128 },
            SeqLenQ = 4, SeqLenK = 1000, Splits = 5, KeysPerSplit = 224,
        };
        var variant = KernelVariant.Decode(ElementType.BFloat16, 128);
        var g = DecodeLaunch.Decode(variant, p);
        // Group 16 × 4 tokens = 64 rows = 4 m-tiles per KV head.
        Assert.Equal(new Dim3(5, 2 * 4, 3), g.Grid);
        Assert.Equal(new Dim3(128), g.Block);
        Assert.Equal((16 * 128 + 32 * 129 + 32 * 128) * 4, g.SharedBytes);
        Assert.Equal(new Dim3((uint)((3 * 4 * 32 + 7) / 8)), DecodeLaunch.Combine(p).Grid);
        var uncovered = p with { KeysPerSplit = 100 };
        Assert.Contains("KeysPerSplit", Assert.Throws<ArgumentException>(() => DecodeLaunch.Decode(variant, uncovered)).Message);
    }

    [Fact]
    public void DecodeSourcesKeepTheSoftwareGpuRules()
    {
        foreach (var file in new[] { "flash_decode.cu", "flash_decode_combine.cu" })
        {
            string text = Comments().Replace(KernelSources.Get(file), "");
            Assert.DoesNotMatch(@"\basm\b", text);
            Assert.DoesNotContain("__shared__", text);
            Assert.DoesNotContain("__shfl", text);
        }
    }

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comments();
}
