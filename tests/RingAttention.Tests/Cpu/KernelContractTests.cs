using RingAttention.Cpu;
using RingAttention.Kernels;
using RingAttention.Reference;

namespace RingAttention.Tests.Cpu;

/// <summary>
/// The kernel contract called directly (no ring): K and V in separate buffers with their own row strides, the
/// keys split over several calls that continue one running state, then finalize; against the float64 oracle.
/// </summary>
public sealed unsafe class KernelContractTests
{
    [Theory]
    [InlineData(ElementType.Float32, 64, false, 1)]
    [InlineData(ElementType.Float32, 64, true, 3)]
    [InlineData(ElementType.Float32, 50, true, 2)]
    [InlineData(ElementType.BFloat16, 128, true, 3)]
    [InlineData(ElementType.Float16, 32, false, 2)]
    public void SeparateStridesAndContinuedStateMatchTheOracle(ElementType type, int headDim, bool causal, int calls)
    {
        const int n = 301, heads = 2, valuePad = 7;
        var options = new AttentionOptions { Heads = heads, HeadDim = headDim, Causal = causal, ElementType = type };
        var problem = new TestProblem(options, n);
        int elementSize = ElementTypes.SizeOf(type);
        int queryRow = heads * headDim, keyRow = heads * headDim, valueRow = heads * headDim + valuePad;
        var q = Store(type, problem.Q);
        var k = Store(type, problem.K);
        // V rows carry padding after the heads: its row stride differs from K's.
        var paddedV = new float[n * valueRow];
        for (int row = 0; row < n; row++)
        {
            problem.V.AsSpan(row * keyRow, keyRow).CopyTo(paddedV.AsSpan(row * valueRow));
        }
        var v = Store(type, paddedV);
        var accumulator = new float[n * queryRow];
        var rowMax = Enumerable.Repeat(float.NegativeInfinity, heads * n).ToArray();
        var rowSum = new float[heads * n];
        var o = new byte[n * queryRow * elementSize];
        var lse = new float[heads * n];
        using var backend = new CpuBackend();
        fixed (byte* pq = q, pk = k, pv = v, po = o)
        fixed (float* pa = accumulator, pm = rowMax, ps = rowSum, pl = lse)
        {
            for (int call = 0; call < calls; call++)
            {
                int first = call * n / calls, last = (call + 1) * n / calls;
                backend.Forward(new FlashForwardParams
                {
                    Q = (nint)pq, K = (nint)(pk + (long)first * keyRow * elementSize), V = (nint)(pv + (long)first * valueRow * elementSize),
                    OAccum = (nint)pa, RowMax = (nint)pm, RowSum = (nint)ps,
                    QBatchStride = n * queryRow, QRowStride = queryRow, QHeadStride = headDim,
                    KBatchStride = n * keyRow, KRowStride = keyRow, KHeadStride = headDim,
                    VBatchStride = n * valueRow, VRowStride = valueRow, VHeadStride = headDim,
                    OBatchStride = n * queryRow, ORowStride = queryRow, OHeadStride = headDim,
                    StatBatchStride = heads * n, StatHeadStride = n,
                    Batch = 1, Heads = heads, KvHeads = heads, HeadDim = headDim,
                    SeqLenQ = n, SeqLenK = last - first, QPosStart = 0, QPosStride = 1, KPosStart = first, KPosStride = 1,
                    ScaleSoftmax = options.EffectiveSoftmaxScale, ScaleSoftmaxLog2 = options.EffectiveSoftmaxScale * MathF.Log2(MathF.E),
                    IsCausal = causal ? 1 : 0, ElementType = (int)type,
                });
            }
            backend.FinishRows(new FlashFinalizeParams
            {
                OAccum = (nint)pa, RowMax = (nint)pm, RowSum = (nint)ps, O = (nint)po, Lse = (nint)pl,
                Batch = 1, Heads = heads, HeadDim = headDim, SeqLenQ = n, ElementType = (int)type,
            });
        }
        var output = Load(type, o);
        var tolerance = problem.Tolerance;
        double storage = type == ElementType.Float32 ? 0 : (type == ElementType.BFloat16 ? Math.Pow(2, -8) : Math.Pow(2, -11)) * problem.Reference.O.Max(Math.Abs);
        Assert.True(TestProblem.MaxAbs(output, problem.Reference.O) <= tolerance.O + storage, $"O error {TestProblem.MaxAbs(output, problem.Reference.O):E3}");
        Assert.True(TestProblem.MaxAbs(lse, problem.Reference.Lse) <= tolerance.Lse, $"LSE error {TestProblem.MaxAbs(lse, problem.Reference.Lse):E3}");
    }

    private static byte[] Store(ElementType type, float[] values) => type switch
    {
        ElementType.BFloat16 => values.SelectMany(x => BitConverter.GetBytes(((BFloat16)x).Bits)).ToArray(),
        ElementType.Float16 => values.SelectMany(x => BitConverter.GetBytes((Half)x)).ToArray(),
        _ => values.SelectMany(BitConverter.GetBytes).ToArray(),
    };

    private static float[] Load(ElementType type, byte[] bytes) => type switch
    {
        ElementType.BFloat16 => Enumerable.Range(0, bytes.Length / 2).Select(i => (float)BFloat16.FromBits(BitConverter.ToUInt16(bytes, 2 * i))).ToArray(),
        ElementType.Float16 => Enumerable.Range(0, bytes.Length / 2).Select(i => (float)BitConverter.ToHalf(bytes, 2 * i)).ToArray(),
        _ => Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, 4 * i)).ToArray(),
    };
}
