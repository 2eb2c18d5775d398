using RingAttention.Cpu;
using RingAttention.Kernels;
using RingAttention.Reference;

namespace RingAttention.Tests.Backward;

/// <summary>
/// The kernel contract as the ring uses it: one preprocess per rank, then many calls, each a block of query rows against
/// a block of key rows at their global positions, all recomputing P from the final LSE and adding into the same fp32
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
        // As a striped ring of 3 holds the rows: rank r has positions r, r + 3, r + 6, …
        Rows[] blocks = [new(0, 86, 3), new(1, 86, 3), new(2, 85, 3)];
        AssertSplitMatches(new AttentionOptions { Batch = 2, Heads = 2, HeadDim = 48, Causal = causal }, n, blocks, blocks);
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

    /// <summary>
    /// As a ring runs it: each query block is a rank's own contiguous buffers (Q, O, dO, LSE, D, dQ gathered from the
    /// global rows it holds) and gets one preprocess; then one kernel call per (key block, query block), the keys
    /// addressed in place at their global rows (a row stride for striped blocks); dQ scattered back. fp32 accumulators returned.
    /// </summary>
    private static (float[] DQ, float[] DK, float[] DV) Run(CpuFlashBackwardKernel kernel, BackwardProblem problem, Rows[] queryBlocks, Rows[] keyBlocks)
    {
        var options = problem.Options;
        var type = options.ElementType;
        int n = problem.N, batch = options.Batch, elementSize = ElementTypes.SizeOf(type);
        int queryRow = options.QueryRowElements, keyRow = options.KeyRowElements;
        byte[] k = Store(type, problem.K), v = Store(type, problem.V);
        var dQ = new float[problem.Q.Length];
        var dK = new float[problem.K.Length];
        var dV = new float[problem.V.Length];
        var ranks = queryBlocks.Select(block => new LocalQueries(problem, block)).ToArray();
        fixed (byte* pk = k, pv = v)
        fixed (float* pdk = dK, pdv = dV)
        {
            foreach (var rank in ranks)
            {
                fixed (byte* pq = rank.Q, po = rank.O, pdo = rank.DO)
                fixed (float* pl = rank.Lse, pd = rank.DSum, pdq = rank.DQ)
                {
                    var local = FlashBackwardParams.ForContiguousTensors(options, rank.Block.Count, n, (nint)pq, (nint)pk, (nint)pv, (nint)po, (nint)pdo,
                        (nint)pl, (nint)pd, (nint)pdq, (nint)pdk, (nint)pdv);
                    kernel.Preprocess(local);
                }
            }
            foreach (var keys in keyBlocks)
            {
                foreach (var rank in ranks)
                {
                    var queries = rank.Block;
                    fixed (byte* pq = rank.Q, po = rank.O, pdo = rank.DO)
                    fixed (float* pl = rank.Lse, pd = rank.DSum, pdq = rank.DQ)
                    {
                        var local = FlashBackwardParams.ForContiguousTensors(options, queries.Count, n, (nint)pq, (nint)pk, (nint)pv, (nint)po, (nint)pdo,
                            (nint)pl, (nint)pd, (nint)pdq, (nint)pdk, (nint)pdv);
                        kernel.Backward(local with
                        {
                            Qkv = local.Qkv with
                            {
                                K = (nint)(pk + (long)keys.First * keyRow * elementSize), KRowStride = keys.Step * keyRow,
                                V = (nint)(pv + (long)keys.First * keyRow * elementSize), VRowStride = keys.Step * keyRow,
                            },
                            DKAccum = (nint)(pdk + (long)keys.First * keyRow), DKAccumRowStride = keys.Step * keyRow,
                            DVAccum = (nint)(pdv + (long)keys.First * keyRow), DVAccumRowStride = keys.Step * keyRow,
                            SeqLenK = keys.Count,
                            QPosStart = queries.First, QPosStride = queries.Step, KPosStart = keys.First, KPosStride = keys.Step,
                        });
                    }
                }
            }
        }
        foreach (var rank in ranks)
        {
            for (int b = 0; b < batch; b++)
            {
                for (int i = 0; i < rank.Block.Count; i++)
                {
                    int global = rank.Block.First + i * rank.Block.Step;
                    rank.DQ.AsSpan((b * rank.Block.Count + i) * queryRow, queryRow).CopyTo(dQ.AsSpan((b * n + global) * queryRow));
                }
            }
        }
        return (dQ, dK, dV);
    }

    /// <summary>One rank's query-side tensors: the rows of <see cref="Block"/>, gathered into contiguous buffers.</summary>
    private sealed class LocalQueries
    {
        public LocalQueries(BackwardProblem problem, Rows block)
        {
            Block = block;
            var options = problem.Options;
            int n = problem.N, batch = options.Batch, heads = options.Heads, width = options.QueryRowElements;
            float[] Gather(float[] global)
            {
                var local = new float[batch * block.Count * width];
                for (int b = 0; b < batch; b++)
                {
                    for (int i = 0; i < block.Count; i++)
                    {
                        global.AsSpan((b * n + block.First + i * block.Step) * width, width).CopyTo(local.AsSpan((b * block.Count + i) * width));
                    }
                }
                return local;
            }
            Q = Store(options.ElementType, Gather(problem.Q));
            O = Store(options.ElementType, Gather(problem.O));
            DO = Store(options.ElementType, Gather(problem.DO));
            Lse = new float[batch * heads * block.Count];
            for (int bh = 0; bh < batch * heads; bh++)
            {
                for (int i = 0; i < block.Count; i++)
                {
                    Lse[bh * block.Count + i] = problem.Lse[bh * n + block.First + i * block.Step];
                }
            }
            DSum = new float[Lse.Length];
            DQ = new float[batch * block.Count * width];
        }

        public Rows Block { get; }
        public byte[] Q { get; }
        public byte[] O { get; }
        public byte[] DO { get; }
        public float[] Lse { get; }
        public float[] DSum { get; }
        public float[] DQ { get; }
    }

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();

    internal static byte[] Store(ElementType type, float[] values) => type switch
    {
        ElementType.BFloat16 => values.SelectMany(x => BitConverter.GetBytes(((BFloat16)x).Bits)).ToArray(),
        ElementType.Float16 => values.SelectMany(x => BitConverter.GetBytes((Half)x)).ToArray(),
        _ => values.SelectMany(BitConverter.GetBytes).ToArray(),
    };
}
