using RingAttention.Cpu;
using RingAttention.Reference;

namespace RingAttention.Tests.Backward;

/// <summary>
/// Rows that saw no key (LSE = −inf, O = 0, as the forward leaves them) contribute nothing: their dQ is exactly 0,
/// nothing anywhere is NaN, and every other gradient is the oracle's with those rows' probabilities zero; and NaN in an input is
/// never hidden.
/// </summary>
public sealed class MaskedRowTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RowsWithNegativeInfinityLseContributeNothing(bool causal)
    {
        const int n = 150;
        var options = new AttentionOptions { Heads = 2, KvHeads = 1, HeadDim = 32, Causal = causal };
        var problem = new BackwardProblem(options, n);
        int d = options.HeadDim, h = options.Heads;
        bool Dead(int row) => row % 7 == 3;
        var lse = (float[])problem.Lse.Clone();
        var o = (float[])problem.O.Clone();
        for (int head = 0; head < h; head++)
        {
            for (int i = 0; i < n; i++)
            {
                if (Dead(i))
                {
                    lse[head * n + i] = float.NegativeInfinity;
                    Array.Clear(o, (i * h + head) * d, d);
                }
            }
        }
        var dq = new float[problem.Q.Length];
        var dk = new float[problem.K.Length];
        var dv = new float[problem.V.Length];
        using var kernel = new CpuFlashBackwardKernel();
        kernel.Backward<float>(options, n, problem.Q, problem.K, problem.V, o, problem.DO, lse, dq, dk, dv);

        Assert.DoesNotContain(dq.Concat(dk).Concat(dv), float.IsNaN);
        for (int i = 0; i < n; i++)
        {
            if (Dead(i))
            {
                Assert.All(dq.AsSpan(i * h * d, h * d).ToArray(), x => Assert.Equal(0f, x));
            }
        }
        var reference = NaiveAttentionBackward.Backward<double>(options, n, BackwardProblem.Widen(problem.Q), BackwardProblem.Widen(problem.K),
            BackwardProblem.Widen(problem.V), BackwardProblem.Widen(problem.DO), BackwardProblem.Widen(o), BackwardProblem.Widen(lse));
        var tolerance = problem.Tolerance;
        Assert.True(TestProblem.MaxAbs(dq, reference.DQ) <= tolerance.DQ, $"dQ error {TestProblem.MaxAbs(dq, reference.DQ):E3}");
        Assert.True(TestProblem.MaxAbs(dk, reference.DK) <= tolerance.DK, $"dK error {TestProblem.MaxAbs(dk, reference.DK):E3}");
        Assert.True(TestProblem.MaxAbs(dv, reference.DV) <= tolerance.DV, $"dV error {TestProblem.MaxAbs(dv, reference.DV):E3}");
        // The dead rows' keys still get gradients from the live rows: the test is not vacuous.
        Assert.True(dk.Max(Math.Abs) > 1e-3 && dv.Max(Math.Abs) > 1e-3);
    }

    /// <summary>NaN in an input reaches the gradients it feeds (as in PyTorch), never hidden by the exp2 clamp.</summary>
    [Fact]
    public void NaNInAQueryReachesItsGradients()
    {
        const int n = 70, nanRow = 40;
        var options = new AttentionOptions { Heads = 1, HeadDim = 16, Causal = true };
        var problem = new BackwardProblem(options, n);
        var q = (float[])problem.Q.Clone();
        q[nanRow * 16 + 5] = float.NaN;
        var lse = (float[])problem.Lse.Clone();
        lse[nanRow] = float.NaN;
        var o = (float[])problem.O.Clone();
        Array.Fill(o, float.NaN, nanRow * 16, 16);
        var dq = new float[q.Length];
        var dk = new float[problem.K.Length];
        var dv = new float[problem.V.Length];
        using var kernel = new CpuFlashBackwardKernel();
        kernel.Backward<float>(options, n, q, problem.K, problem.V, o, problem.DO, lse, dq, dk, dv);
        Assert.All(dq.AsSpan(nanRow * 16, 16).ToArray(), x => Assert.True(float.IsNaN(x)));
        for (int j = 0; j <= nanRow; j++)
        {
            Assert.True(float.IsNaN(dv[j * 16]), $"dV[{j}] does not show the NaN of query row {nanRow}, which sees key {j}");
        }
        // Rows that do not read the NaN row's data keep finite gradients.
        Assert.All(dq.AsSpan(0, nanRow * 16).ToArray(), x => Assert.True(float.IsFinite(x)));
    }
}
