using RingAttention.Cpu;
using RingAttention.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// The kernels continue a running state (OAccum, RowMax, RowSum) instead of starting one: keys split into two
/// calls (positions 0… and 90…, as two ring steps deliver them) must finalize to what one call over all keys gives on
/// the CPU backend. The kernel suite starts every call from a fresh state, so only this (and the slow ring tests)
/// would see a kernel that reads the incoming state wrongly, e.g. the running sum counted once per lane of a quad.
/// Runs on a GPU or the software GPU (and in tools/gpu-emulator/mutations.sh).
/// </summary>
public sealed class StateContinuationTests
{
    private const int Rows = 128, Keys = 200, FirstCallKeys = 90, HeadDim = 64, Heads = 2;

    [SkippableTheory]
    [InlineData(ElementType.BFloat16, false)]
    [InlineData(ElementType.BFloat16, true)]
    [InlineData(ElementType.Float32, true)]
    public void TwoCallsOverHalfTheKeysEachEqualOneCallOverAll(ElementType type, bool causal)
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        using var cpu = new CpuBackend();
        var (gpuO, gpuLse) = Run(gpu, type, causal, [(0, FirstCallKeys), (FirstCallKeys, Keys - FirstCallKeys)]);
        var (cpuO, cpuLse) = Run(cpu, type, causal, [(0, Keys)]);

        double tolerance = type == ElementType.Float32 ? 1e-5 : 2e-2;
        for (int i = 0; i < cpuLse.Length; i++)
        {
            Assert.True(Math.Abs(gpuLse[i] - cpuLse[i]) < 1e-4, $"LSE {i}: {gpuLse[i]}, CPU over all keys in one call {cpuLse[i]}");
        }
        for (int i = 0; i < cpuO.Length; i++)
        {
            Assert.True(Math.Abs(gpuO[i] - cpuO[i]) <= tolerance, $"O {i}: {gpuO[i]}, CPU over all keys in one call {cpuO[i]}");
        }
    }

    /// <summary>One forward call per (first key, key count) on one running state, then finalize.</summary>
    private static (float[] O, float[] Lse) Run(IAttentionBackend backend, ElementType type, bool causal, (int First, int Count)[] calls)
    {
        var options = new AttentionOptions { Batch = 1, Heads = Heads, KvHeads = 1, HeadDim = HeadDim, Causal = causal, ElementType = type };
        var random = new Random(11);
        byte[] q = ForwardCalls.Stored(ForwardCalls.RandomValues(random, Rows * Heads * HeadDim), type);
        byte[] k = ForwardCalls.Stored(ForwardCalls.RandomValues(random, Keys * HeadDim), type);
        byte[] v = ForwardCalls.Stored(ForwardCalls.RandomValues(random, Keys * HeadDim), type);
        return ForwardCalls.Run(backend, options, Rows, q, k, v, calls.Select(c => new ForwardCalls.Call(c.First, c.Count, c.First)));
    }
}
