using RingAttention.Cpu;
using RingAttention.Kernels;
using RingAttention.Reference;

namespace RingAttention.Tests.Backward;

/// <summary>
/// The kernel contract as the ring uses it: one preprocess, then many calls, each a block of query rows against a
/// block of key rows at their global positions, all recomputing P from the final LSE and adding into the same fp32
/// accumulators. The sum over the blocks equals one call over everything (up to summation order) and the oracle.
/// </summary>
public sealed unsafe class BlockSplitTests
{
    /// <summary>A block of rows: the first row, the row count and the step between the rows taken (a striped layout's P).</summary>
    private readonly record struct Rows(int First, int Count, int Step);

    [Theory]
    [InlineData(ElementType.Float32, true)]
    [InlineData(ElementType.Float32, false)]
    [InlineData(ElementType.BFloat16, true)]
    public void ContiguousBlocksAddUpToOneCall(ElementType type, bool causal)
    {
        const int n = 300;
        Rows[] queryBlocks = [new(0, 130, 1), new(130, 170, 1)];
        Rows[] keyBlocks = [new(211, 89, 1), new(0, 100, 1), new(100, 111, 1)];
        AssertSplitMatches(new AttentionOptions { Heads = 4, KvHeads = 2, HeadDim = 64, Causal = causal, ElementType = type }, n, queryBlocks, keyBlocks);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void StripedBlocksAddUpToOneCall(bool causal)
    {
        const int n = 257;
        // Keys as a striped ring of 3 holds them (rank r: positions r, r + 3, r + 6, …), addressed in place by row stride.
        // Queries stay contiguous: LSE and D rows are contiguous, so a striped rank's queries live in buffers of their own.
        Rows[] keyBlocks = [new(0, 86, 3), new(1, 86, 3), new(2, 85, 3)];
        Rows[] queryBlocks = [new(100, 157, 1), new(0, 100, 1)];
        AssertSplitMatches(new AttentionOptions { Batch = 2, Heads = 2, HeadDim = 48, Causal = causal }, n, queryBlocks, keyBlocks);
    }

    private static void AssertSplitMatches(AttentionOptions options, int n, Rows[] queryBlocks, Rows[] keyBlocks)
    {
        var problem = new BackwardProblem(options, n);
        using var kernel = new CpuFlashBackwardKernel(threads: 2);
        var whole = Run(kernel, problem, [new(0, n, 1)], [new(0, n, 1)]);
        var split = Run(kernel, problem, queryBlocks, keyBlocks);
        var tolerance = problem.Tolerance;
        var reference = problem.Reference;
        Assert.True(TestProblem.MaxAbs(split.DQ, reference.DQ) <= tolerance.DQ, $"dQ error {TestProblem.MaxAbs(split.DQ, reference.DQ):E3} > {tolerance.DQ:E3}");
        Assert.True(TestProblem.MaxAbs(split.DK, reference.DK) <= tolerance.DK, $"dK error {TestProblem.MaxAbs(split.DK, reference.DK):E3} > {tolerance.DK:E3}");
        Assert.True(TestProblem.MaxAbs(split.DV, reference.DV) <= tolerance.DV, $"dV error {TestProblem.MaxAbs(split.DV, reference.DV):E3} > {tolerance.DV:E3}");
        // Against the single call the only difference is the order of the fp32 sums.
        Assert.True(MaxDifference(split.DQ, whole.DQ) <= tolerance.DQ, $"dQ differs from one call by {MaxDifference(split.DQ, whole.DQ):E3} > {tolerance.DQ:E3}");
        Assert.True(MaxDifference(split.DK, whole.DK) <= tolerance.DK, $"dK differs from one call by {MaxDifference(split.DK, whole.DK):E3} > {tolerance.DK:E3}");
        Assert.True(MaxDifference(split.DV, whole.DV) <= tolerance.DV, $"dV differs from one call by {MaxDifference(split.DV, whole.DV):E3} > {tolerance.DV:E3}");
    }

    /// <summary>Preprocess once over all rows, then one kernel call per (key block, query block), fp32 accumulators returned.</summary>
    private static (float[] DQ, float[] DK, float[] DV) Run(CpuFlashBackwardKernel kernel, BackwardProblem problem, Rows[] queryBlocks, Rows[] keyBlocks)
    {
        var options = problem.Options;
        int n = problem.N, elementSize = ElementTypes.SizeOf(options.ElementType);
        int queryRow = options.QueryRowElements, keyRow = options.KeyRowElements;
        byte[] q = Store(options.ElementType, problem.Q), k = Store(options.ElementType, problem.K), v = Store(options.ElementType, problem.V);
        byte[] o = Store(options.ElementType, problem.O), dO = Store(options.ElementType, problem.DO);
        var lse = problem.Lse;
        var dSum = new float[lse.Length];
        var dQ = new float[problem.Q.Length];
        var dK = new float[problem.K.Length];
        var dV = new float[problem.V.Length];
        fixed (byte* pq = q, pk = k, pv = v, po = o, pdo = dO)
        fixed (float* pl = lse, pd = dSum, pdq = dQ, pdk = dK, pdv = dV)
        {
            var whole = FlashBackwardParams.ForContiguousTensors(options, n, n, (nint)pq, (nint)pk, (nint)pv, (nint)po, (nint)pdo, (nint)pl, (nint)pd,
                (nint)pdq, (nint)pdk, (nint)pdv);
            kernel.Preprocess(whole);
            foreach (var keys in keyBlocks)
            {
                foreach (var queries in queryBlocks)
                {
                    kernel.Backward(whole with
                    {
                        Q = (nint)(pq + (long)queries.First * queryRow * elementSize), QRowStride = queries.Step * queryRow,
                        DO = (nint)(pdo + (long)queries.First * queryRow * elementSize), DORowStride = queries.Step * queryRow,
                        DQAccum = (nint)(pdq + (long)queries.First * queryRow), DQAccumRowStride = queries.Step * queryRow,
                        K = (nint)(pk + (long)keys.First * keyRow * elementSize), KRowStride = keys.Step * keyRow,
                        V = (nint)(pv + (long)keys.First * keyRow * elementSize), VRowStride = keys.Step * keyRow,
                        DKAccum = (nint)(pdk + (long)keys.First * keyRow), DKAccumRowStride = keys.Step * keyRow,
                        DVAccum = (nint)(pdv + (long)keys.First * keyRow), DVAccumRowStride = keys.Step * keyRow,
                        Lse = (nint)(pl + queries.First), DSum = (nint)(pd + queries.First),
                        SeqLenQ = queries.Count, SeqLenK = keys.Count,
                        QPosStart = queries.First, QPosStride = queries.Step, KPosStart = keys.First, KPosStride = keys.Step,
                    });
                }
            }
        }
        return (dQ, dK, dV);
    }

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();

    internal static byte[] Store(ElementType type, float[] values) => type switch
    {
        ElementType.BFloat16 => values.SelectMany(x => BitConverter.GetBytes(((BFloat16)x).Bits)).ToArray(),
        ElementType.Float16 => values.SelectMany(x => BitConverter.GetBytes((Half)x)).ToArray(),
        _ => values.SelectMany(BitConverter.GetBytes).ToArray(),
    };
}
