using System.Runtime.InteropServices;
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
        int elementBytes = type == ElementType.Float32 ? 4 : 2;
        var random = new Random(11);
        byte[] Tensor(int rows, int width)
        {
            var values = Enumerable.Range(0, rows * width).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
            return type == ElementType.Float32
                ? MemoryMarshal.AsBytes(values.AsSpan()).ToArray()
                : MemoryMarshal.AsBytes(values.Select(ToBfloat16).ToArray().AsSpan()).ToArray();
        }
        byte[] q = Tensor(Rows, Heads * HeadDim), k = Tensor(Keys, HeadDim), v = Tensor(Keys, HeadDim);
        long stats = Heads * Rows, outputs = (long)Rows * Heads * HeadDim;
        using var qBuffer = backend.Allocate(q.Length);
        using var kBuffer = backend.Allocate(k.Length);
        using var vBuffer = backend.Allocate(v.Length);
        using var oAccum = backend.Allocate(outputs * 4);
        using var rowMax = backend.Allocate(stats * 4);
        using var rowSum = backend.Allocate(stats * 4);
        using var o = backend.Allocate(outputs * elementBytes);
        using var lse = backend.Allocate(stats * 4);
        backend.Upload(q, qBuffer);
        backend.Upload(k, kBuffer);
        backend.Upload(v, vBuffer);
        backend.Fill(oAccum, 0, outputs, 0f);
        backend.Fill(rowMax, 0, stats, float.NegativeInfinity);
        backend.Fill(rowSum, 0, stats, 0f);
        foreach (var (first, count) in calls)
        {
            nint offset = (nint)first * HeadDim * elementBytes;
            var forward = FlashForwardParams.ForContiguousTensors(options, Rows, count, qBuffer.Address, kBuffer.Address + offset,
                vBuffer.Address + offset, oAccum.Address, rowMax.Address, rowSum.Address) with { KPosStart = first };
            backend.Forward(forward);
        }
        backend.FinishRows(new FlashFinalizeParams
        {
            OAccum = oAccum.Address, RowMax = rowMax.Address, RowSum = rowSum.Address, O = o.Address, Lse = lse.Address,
            Batch = 1, Heads = Heads, HeadDim = HeadDim, SeqLenQ = Rows, ElementType = (int)type,
        });
        backend.Synchronize();
        var oBytes = new byte[outputs * elementBytes];
        var lseBytes = new byte[stats * 4];
        backend.Download(o, 0, oBytes);
        backend.Download(lse, 0, lseBytes);
        float[] oValues = type == ElementType.Float32
            ? MemoryMarshal.Cast<byte, float>(oBytes).ToArray()
            : MemoryMarshal.Cast<byte, ushort>(oBytes).ToArray().Select(b => BitConverter.Int32BitsToSingle(b << 16)).ToArray();
        return (oValues, MemoryMarshal.Cast<byte, float>(lseBytes).ToArray());
    }

    private static ushort ToBfloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
    }
}
