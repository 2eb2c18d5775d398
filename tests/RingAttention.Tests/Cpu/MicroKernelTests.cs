using RingAttention.Cpu;

namespace RingAttention.Tests.Cpu;

/// <summary>
/// The register-blocked GEMM against a float64 product: both starts (from zero and from the rescaled C), every
/// register block shape on every tier that uses it, k of 1 and odd lengths, column counts that need the 1-vector
/// tail block, and leading dimensions wider than the operands.
/// </summary>
public sealed unsafe class MicroKernelTests
{
    /// <summary>The register blocks the kernels use: 6×4 on AVX-512, 6×2 on the 16-register tiers.</summary>
    public enum Block
    {
        SixRows,
        SixRowsTwoVectors,
    }

    public static TheoryData<SimdTier, Block, int, int, int> Shapes()
    {
        var data = new TheoryData<SimdTier, Block, int, int, int>();
        foreach (var (tier, block) in new[]
        {
            (SimdTier.Vector512, Block.SixRows), (SimdTier.Vector256, Block.SixRowsTwoVectors),
            (SimdTier.Vector128, Block.SixRowsTwoVectors),
        })
        {
            int w = (int)tier / 32;
            data.Add(tier, block, 6, 1, 4 * w);
            data.Add(tier, block, 12, 7, 5 * w);
            data.Add(tier, block, 18, 64, 8 * w + 2 * w);
            data.Add(tier, block, 6, 129, w);
            data.Add(tier, block, 6, 33, 3 * w);
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void MatchesFloat64Product(SimdTier tier, Block block, int rows, int k, int n)
    {
        Skip.IfNot(SimdTiers.IsSupported(tier), $"{tier} is not accelerated on this machine");
        var random = new Random(rows * 1000 + k * 10 + n);
        int lda = k + 3, ldb = n + (int)tier / 32, ldc = n + 2 * ((int)tier / 32);
        var a = Values(random, rows * lda);
        var b = Values(random, k * ldb);
        var c = Values(random, rows * ldc);
        var scale = Values(random, rows);
        foreach (bool rescale in new[] { false, true })
        {
            var result = (float[])c.Clone();
            fixed (float* pa = a, pb = b, pc = result, ps = scale)
            {
                Run(tier, block, rescale, pa, lda, pb, ldb, pc, ldc, rows, k, n, ps);
            }
            for (int r = 0; r < rows; r++)
            {
                for (int j = 0; j < ldc; j++)
                {
                    if (j >= n)
                    {
                        Assert.Equal(c[r * ldc + j], result[r * ldc + j]);
                        continue;
                    }
                    double expected = rescale ? (double)c[r * ldc + j] * scale[r] : 0;
                    double magnitude = Math.Abs(expected);
                    for (int kk = 0; kk < k; kk++)
                    {
                        expected += (double)a[r * lda + kk] * b[kk * ldb + j];
                        magnitude += Math.Abs((double)a[r * lda + kk] * b[kk * ldb + j]);
                    }
                    // fp32 accumulation: each of the k + 1 steps may round once, relative to the running magnitude.
                    double tolerance = (k + 2) * Math.Pow(2, -24) * magnitude;
                    Assert.True(Math.Abs(result[r * ldc + j] - expected) <= tolerance,
                        $"C[{r}][{j}] = {result[r * ldc + j]:G9}, expected {expected:G9} (rescale {rescale}, tolerance {tolerance:E2})");
                }
            }
        }
    }

    private static void Run(SimdTier tier, Block block, bool rescale, float* a, int lda, float* b, int ldb, float* c, int ldc, int rows, int k, int n, float* scale)
    {
        switch (tier)
        {
            case SimdTier.Vector512: Run<Simd512, SixRows>(rescale, a, lda, b, ldb, c, ldc, rows, k, n, scale); break;
            case SimdTier.Vector256: Run<Simd256, SixRowsTwoVectors>(rescale, a, lda, b, ldb, c, ldc, rows, k, n, scale); break;
            default: Run<Simd128, SixRowsTwoVectors>(rescale, a, lda, b, ldb, c, ldc, rows, k, n, scale); break;
        }
    }

    private static void Run<TV, TRows>(bool rescale, float* a, int lda, float* b, int ldb, float* c, int ldc, int rows, int k, int n, float* scale)
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock
    {
        if (rescale)
        {
            MicroKernels.Gemm<TV, TRows, FromRescaled>(a, lda, b, ldb, c, ldc, rows, k, n, scale);
        }
        else
        {
            MicroKernels.Gemm<TV, TRows, FromZero>(a, lda, b, ldb, c, ldc, rows, k, n, null);
        }
    }

    private static float[] Values(Random random, int count) => Enumerable.Range(0, count).Select(_ => random.NextSingle() * 2 - 1).ToArray();
}
