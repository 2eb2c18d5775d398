using System.Runtime.InteropServices;
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
        int elementBytes = type == ElementType.Float32 ? 4 : 2;
        var random = new Random(5);
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
        var forward = FlashForwardParams.ForContiguousTensors(options, Rows, Keys, qBuffer.Address, kBuffer.Address, vBuffer.Address,
            oAccum.Address, rowMax.Address, rowSum.Address) with { KPosStart = KeyPositionStart };
        backend.Forward(forward);
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
