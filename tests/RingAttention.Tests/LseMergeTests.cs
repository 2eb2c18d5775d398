using RingAttention.Reference;

namespace RingAttention.Tests;

public sealed class LseMergeTests
{
    [Fact]
    public void MergingPartialsOverDisjointKeysEqualsAttentionOverAllKeys()
    {
        // One query against 40 keys: partials over keys [0, 17) and [17, 40) merge to the full result.
        var options = new AttentionOptions { Heads = 1, HeadDim = 8 };
        var problem = new TestProblem(options, 40, seed: 3);
        var (fullO, fullLse) = PartialOverKeys(problem, 0, 40);
        var (o, lse) = PartialOverKeys(problem, 0, 17);
        var (blockO, blockLse) = PartialOverKeys(problem, 17, 40);
        float mergedLse = lse;
        LseMerge.MergeRow(o, ref mergedLse, blockO, blockLse);
        Assert.Equal(fullLse, mergedLse, 5);
        for (int c = 0; c < o.Length; c++)
        {
            Assert.Equal(fullO[c], o[c], 5);
        }
    }

    [Fact]
    public void NegativeInfinityIsTheIdentityOnBothSides()
    {
        float[] o = [1, 2, 3];
        float lse = 0.5f;
        LseMerge.MergeRow(o, ref lse, [9, 9, 9], float.NegativeInfinity);
        Assert.Equal([1f, 2f, 3f], o);
        Assert.Equal(0.5f, lse);

        float[] empty = [0, 0, 0];
        float emptyLse = float.NegativeInfinity;
        LseMerge.MergeRow(empty, ref emptyLse, [4, 5, 6], 1.5f);
        Assert.Equal([4f, 5f, 6f], empty);
        Assert.Equal(1.5f, emptyLse);
    }

    [Fact]
    public void TwoEmptyRowsStayEmptyWithoutNaN()
    {
        float[] o = [0, 0];
        float lse = float.NegativeInfinity;
        LseMerge.MergeRow(o, ref lse, [0, 0], float.NegativeInfinity);
        Assert.Equal([0f, 0f], o);
        Assert.True(float.IsNegativeInfinity(lse));
    }

    [Theory]
    [InlineData(float.PositiveInfinity, 1f)]
    [InlineData(1f, float.PositiveInfinity)]
    [InlineData(float.PositiveInfinity, float.PositiveInfinity)]
    [InlineData(88f, -88f)]
    [InlineData(1e30f, -1e30f)]
    [InlineData(-1e30f, 1e30f)]
    public void ExtremeValuesNeverProduceNaN(float lse, float lseBlock)
    {
        float[] o = [1, -1];
        LseMerge.MergeRow(o, ref lse, [2, 3], lseBlock);
        Assert.All(o, x => Assert.False(float.IsNaN(x)));
        Assert.False(float.IsNaN(lse));
        Assert.Equal(MathF.Max(lse, lseBlock), lse, 3);
    }

    [Fact]
    public void EqualWeightsAverageAndAddLogTwo()
    {
        float[] o = [1, 3];
        float lse = 2f;
        LseMerge.MergeRow(o, ref lse, [3, 5], 2f);
        Assert.Equal([2f, 4f], o);
        Assert.Equal(2f + MathF.Log(2f), lse, 6);
    }

    [Fact]
    public void MergeOrderDoesNotMatterBeyondRounding()
    {
        var random = new Random(5);
        float[][] outputs = Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();
        float[] lses = Enumerable.Range(0, 6).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray();
        var (forwardO, forwardLse) = MergeAll(outputs, lses, Enumerable.Range(0, 6));
        var (backwardO, backwardLse) = MergeAll(outputs, lses, Enumerable.Range(0, 6).Reverse());
        Assert.Equal(forwardLse, backwardLse, 5);
        for (int c = 0; c < 16; c++)
        {
            Assert.Equal(forwardO[c], backwardO[c], 5);
        }
    }

    [Fact]
    public void RowRangeMergeTouchesOnlyThoseRows()
    {
        // [batch 1, seq 4, heads 2, dim 1]; merge a partial for rows 1..2 only (zigzag merges half blocks so).
        float[] o = [1, 1, 2, 2, 3, 3, 4, 4];
        float[] lse = [0, 0, 0, 0, 0, 0, 0, 0];
        float[] block = [10, 20, 30, 40];
        float[] blockLse = [0, 0, 0, 0];
        LseMerge.Merge(o, lse, block, blockLse, batch: 1, heads: 2, headDim: 1, seqLen: 4, rowStart: 1, rowCount: 2);
        Assert.Equal([1f, 1f, 6f, 11f, 16.5f, 21.5f, 4f, 4f], o);
        float ln2 = MathF.Log(2f);
        Assert.Equal([0f, ln2, ln2, 0f, 0f, ln2, ln2, 0f], lse);
    }

    [Fact]
    public void MismatchedLengthsNameTheArgument()
    {
        var error = Assert.ThrowsAny<ArgumentException>(() =>
            LseMerge.Merge(new float[8], new float[8], new float[3], new float[4], 1, 2, 1, 4, 1, 2));
        Assert.Equal("oBlock.Length", error.ParamName);
        Assert.Contains("expected 4", error.Message);
        Assert.Contains("actual 3", error.Message);
        Assert.ThrowsAny<ArgumentException>(() =>
        {
            float lse = 0f;
            LseMerge.MergeRow(new float[2], ref lse, new float[3], 0f);
        });
    }

    private static (float[] O, float Lse) MergeAll(float[][] outputs, float[] lses, IEnumerable<int> order)
    {
        var o = new float[16];
        float lse = float.NegativeInfinity;
        foreach (int i in order)
        {
            LseMerge.MergeRow(o, ref lse, outputs[i], lses[i]);
        }
        return (o, lse);
    }

    private static (float[] O, float Lse) PartialOverKeys(TestProblem problem, int from, int to)
    {
        int d = problem.Options.HeadDim;
        var keys = problem.K.AsSpan(from * d, (to - from) * d).ToArray();
        var values = problem.V.AsSpan(from * d, (to - from) * d).ToArray();
        var queries = Enumerable.Repeat(problem.Q.Take(d), to - from).SelectMany(x => x).ToArray();
        var (o, lse) = NaiveAttention.Forward<double>(problem.Options, to - from, queries, keys, values);
        return (o.Take(d).Select(x => (float)x).ToArray(), (float)lse[0]);
    }
}
