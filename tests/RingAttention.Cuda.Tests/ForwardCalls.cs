using System.Runtime.InteropServices;
using RingAttention.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// What the single-call kernel tests (fully masked rows, state continuation, NaN propagation) share: random values
/// stored in the run's type, and one running state taken through forward calls and the finalize on any backend, so
/// the CUDA kernels and the CPU backend run the same calls.
/// </summary>
internal static class ForwardCalls
{
    /// <summary>One forward call: keys [First, First + Count) of the K/V tensors, the first at global position Position.</summary>
    public readonly record struct Call(int First, int Count, int Position);

    /// <summary><paramref name="count"/> values uniform in [−2, 2).</summary>
    public static float[] RandomValues(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();

    /// <summary><paramref name="values"/> as fp32 bytes, or bf16 bytes (round to nearest even) for a 16-bit type.</summary>
    public static byte[] Stored(float[] values, ElementType type) => type == ElementType.Float32
        ? MemoryMarshal.AsBytes(values.AsSpan()).ToArray()
        : MemoryMarshal.AsBytes(values.Select(ToBfloat16).ToArray().AsSpan()).ToArray();

    /// <summary>
    /// Runs <paramref name="calls"/> on one zeroed running state of <paramref name="rows"/> query rows (batch 1,
    /// contiguous tensors, K/V one KV head wide), finalizes, and returns O (as float) and LSE.
    /// </summary>
    public static (float[] O, float[] Lse) Run(IAttentionBackend backend, AttentionOptions options, int rows, byte[] q, byte[] k, byte[] v, IEnumerable<Call> calls)
    {
        var type = options.ElementType;
        int elementBytes = type == ElementType.Float32 ? 4 : 2;
        long stats = (long)options.Heads * rows, outputs = (long)rows * options.Heads * options.HeadDim;
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
        foreach (var call in calls)
        {
            nint offset = (nint)call.First * options.HeadDim * elementBytes;
            backend.Forward(FlashForwardParams.ForContiguousTensors(options, rows, call.Count, qBuffer.Address, kBuffer.Address + offset,
                vBuffer.Address + offset, oAccum.Address, rowMax.Address, rowSum.Address) with { KPosStart = call.Position });
        }
        backend.FinishRows(new FlashFinalizeParams
        {
            OAccum = oAccum.Address, RowMax = rowMax.Address, RowSum = rowSum.Address, O = o.Address, Lse = lse.Address,
            Batch = 1, Heads = options.Heads, HeadDim = options.HeadDim, SeqLenQ = rows, ElementType = (int)type,
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
