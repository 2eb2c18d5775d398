using System.Runtime.Intrinsics.X86;
using RingAttention.Cpu;

namespace RingAttention.Tests.Cpu;

/// <summary>Packing of K and V tiles: the in-register transpose, 16-bit widening, a ragged last tile and odd head dims.</summary>
public sealed unsafe class PanelTests
{
    [SkippableFact]
    public void Transpose16x16IsATranspose()
    {
        Skip.IfNot(Avx512F.IsSupported, "the in-register transpose is the AVX-512 path");
        const int sourceStride = 21, destinationStride = 19;
        var source = Enumerable.Range(0, 16 * sourceStride).Select(i => (float)i).ToArray();
        var destination = new float[16 * destinationStride];
        fixed (float* s = source, d = destination)
        {
            Panels.Transpose16x16(s, sourceStride, d, destinationStride);
        }
        for (int r = 0; r < 16; r++)
        {
            for (int c = 0; c < 16; c++)
            {
                Assert.Equal(source[c * sourceStride + r], destination[r * destinationStride + c]);
            }
            Assert.All(destination[(r * destinationStride + 16)..((r + 1) * destinationStride)], value => Assert.Equal(0f, value));
        }
    }

    [Theory]
    [InlineData(ElementType.Float32, 64, 0)]
    [InlineData(ElementType.Float32, 37, 64)]
    [InlineData(ElementType.BFloat16, 128, 0)]
    [InlineData(ElementType.Float16, 20, 0)]
    [InlineData(ElementType.Float16, 7, 64)]
    public void PackedTileHoldsKTransposedAndVPaddedWithZeros(ElementType type, int headDim, int firstKey)
    {
        const int keys = 100, keyStride = 300, valueStride = 260;
        int paddedHeadDim = (headDim + 15) / 16 * 16;
        var random = new Random(headDim);
        var keyValues = Enumerable.Range(0, keys * keyStride).Select(_ => Round(type, random.NextSingle() * 4 - 2)).ToArray();
        var valueValues = Enumerable.Range(0, keys * valueStride).Select(_ => Round(type, random.NextSingle() * 4 - 2)).ToArray();
        var keyBytes = Store(type, keyValues);
        var valueBytes = Store(type, valueValues);
        var keyPanel = new float[CpuFlashKernel.BlockN * headDim];
        var valuePanel = new float[CpuFlashKernel.BlockN * paddedHeadDim];
        var staging = new float[Panels.StagingFloats];
        Array.Fill(keyPanel, float.NaN);
        Array.Fill(valuePanel, float.NaN);
        fixed (byte* k = keyBytes, v = valueBytes)
        fixed (float* kp = keyPanel, vp = valuePanel, st = staging)
        {
            Panels.PackTile(type, k, keyStride, v, valueStride, keys, headDim, paddedHeadDim, firstKey, kp, vp, st);
        }
        for (int c = 0; c < CpuFlashKernel.BlockN; c++)
        {
            int key = firstKey + c;
            for (int d = 0; d < paddedHeadDim; d++)
            {
                float expectedValue = key < keys && d < headDim ? valueValues[key * valueStride + d] : 0f;
                Assert.Equal(expectedValue, valuePanel[c * paddedHeadDim + d]);
                if (d < headDim)
                {
                    float expectedKey = key < keys ? keyValues[key * keyStride + d] : 0f;
                    Assert.Equal(expectedKey, keyPanel[d * CpuFlashKernel.BlockN + c]);
                }
            }
        }
    }

    private static float Round(ElementType type, float value) => type switch
    {
        ElementType.BFloat16 => (float)(BFloat16)value,
        ElementType.Float16 => (float)(Half)value,
        _ => value,
    };

    private static byte[] Store(ElementType type, float[] values) => type switch
    {
        ElementType.BFloat16 => values.SelectMany(v => BitConverter.GetBytes(((BFloat16)v).Bits)).ToArray(),
        ElementType.Float16 => values.SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray(),
        _ => values.SelectMany(BitConverter.GetBytes).ToArray(),
    };
}
