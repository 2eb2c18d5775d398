using RingAttention.Cpu;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Tests.Backward;

/// <summary>The backward example in README.md, kept compiling and checked.</summary>
public sealed class BackwardReadmeExampleTests
{
    [Fact]
    public void TheReadmeBackwardExampleRunsAndBothPathsAgree()
    {
        var options = new AttentionOptions { Heads = 8, KvHeads = 2, HeadDim = 64, Causal = true };
        const int n = 1000;
        var problem = new BackwardProblem(options, n);
        float[] q = problem.Q, k = problem.K, v = problem.V, o = problem.O, lse = problem.Lse;
        using var backend = new CpuBackend();

        float[] dO = problem.DO;
        float[] dQ = new float[q.Length], dK = new float[k.Length], dV = new float[v.Length];
        RankReport[] reports = EmulatedRing.AttentionBackward<float>(options, new ZigzagLayout(n, 4), backend, q, k, v, o, lse, dO, dQ, dK, dV);

        var layout = new ZigzagLayout(n, 1);
        using var transport = InProcessRing.Create(1)[0];
        using var session = new RankSession(transport, backend);
        float[] singleDQ = new float[q.Length], singleDK = new float[k.Length], singleDV = new float[v.Length];
        RankReport report = RingBackward.Run<float>(session, options, layout, q, k, v, o, lse, dO, singleDQ, singleDK, singleDV);

        Assert.Equal(4, reports.Length);
        Assert.Single(report.Steps);
        var (reference, tolerance) = (problem.Reference, problem.Tolerance);
        foreach (var (actual, expected, limit) in new[]
        {
            (dQ, reference.DQ, tolerance.DQ), (dK, reference.DK, tolerance.DK), (dV, reference.DV, tolerance.DV),
            (singleDQ, reference.DQ, tolerance.DQ), (singleDK, reference.DK, tolerance.DK), (singleDV, reference.DV, tolerance.DV),
        })
        {
            Assert.True(TestProblem.MaxAbs(actual, expected) <= limit);
        }
    }
}
