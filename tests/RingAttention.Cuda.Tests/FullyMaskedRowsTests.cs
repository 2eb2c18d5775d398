using RingAttention.Cpu;
using RingAttention.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// One kernel call on a fresh state (RowMax = −inf, RowSum = 0) whose keys come after most of its queries (causal,
/// keys at positions 72…, queries at 0…): the first 72 rows see no key at all, and rows 64–71 share their thread
/// blocks (128 rows on tensor cores, 16 in the fp32 kernel) and tiles with rows that see some, which only the
/// softmax's −inf guard keeps from NaN (−inf − (−inf)). Those rows must finalize to
/// O = 0 and LSE = −inf, the rest must match the CPU backend. Runs on a GPU or the software GPU.
/// </summary>
public sealed class FullyMaskedRowsTests
{
    private const int Rows = 128, Keys = 128, KeyPositionStart = 72, HeadDim = 64, Heads = 2;

    [SkippableTheory]
    [InlineData(ElementType.BFloat16)]
    [InlineData(ElementType.Float32)]
    public void RowsThatSeeNoKeyInTheirFirstTilesFinalizeToZeroAndMinusInfinity(ElementType type)
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        using var cpu = new CpuBackend();
        var (gpuO, gpuLse) = Run(gpu, type);
        var (cpuO, cpuLse) = Run(cpu, type);

        double tolerance = type == ElementType.Float32 ? 1e-5 : 2e-2;
        for (int h = 0; h < Heads; h++)
        {
            for (int r = 0; r < Rows; r++)
            {
                float lse = gpuLse[h * Rows + r];
                if (r < KeyPositionStart)
                {
                    Assert.True(float.IsNegativeInfinity(lse), $"head {h} row {r}: LSE {lse}, expected -inf (no visible key)");
                    for (int c = 0; c < HeadDim; c++)
                    {
                        Assert.Equal(0f, gpuO[(r * Heads + h) * HeadDim + c]);
                    }
                    continue;
                }
                Assert.True(float.IsFinite(lse) && Math.Abs(lse - cpuLse[h * Rows + r]) < 1e-4, $"head {h} row {r}: LSE {lse}, CPU {cpuLse[h * Rows + r]}");
                for (int c = 0; c < HeadDim; c++)
                {
                    int i = (r * Heads + h) * HeadDim + c;
                    Assert.True(float.IsFinite(gpuO[i]) && Math.Abs(gpuO[i] - cpuO[i]) <= tolerance, $"head {h} row {r} col {c}: O {gpuO[i]}, CPU {cpuO[i]}");
                }
            }
        }
    }

    private static (float[] O, float[] Lse) Run(IAttentionBackend backend, ElementType type)
    {
        var options = new AttentionOptions { Batch = 1, Heads = Heads, KvHeads = 1, HeadDim = HeadDim, Causal = true, ElementType = type };
        var random = new Random(5);
        byte[] q = ForwardCalls.Stored(ForwardCalls.RandomValues(random, Rows * Heads * HeadDim), type);
        byte[] k = ForwardCalls.Stored(ForwardCalls.RandomValues(random, Keys * HeadDim), type);
        byte[] v = ForwardCalls.Stored(ForwardCalls.RandomValues(random, Keys * HeadDim), type);
        return ForwardCalls.Run(backend, options, Rows, q, k, v, [new ForwardCalls.Call(0, Keys, KeyPositionStart)]);
    }
}
