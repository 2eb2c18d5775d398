using RingAttention.Cpu;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Tests;

/// <summary>The library example in README.md, kept compiling and checked.</summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public void TheReadmeExampleRunsAndBothPathsAgree()
    {
        var options = new AttentionOptions { Heads = 8, KvHeads = 2, HeadDim = 64, Causal = true };
        const int n = 1000;
        var problem = new TestProblem(options, n);
        float[] q = problem.Q, k = problem.K, v = problem.V;
        float[] o = new float[q.Length], lse = new float[8 * n];
        using var backend = new CpuBackend();

        RankReport[] reports = EmulatedRing.Attention<float>(options, new ZigzagLayout(n, 4), backend, q, k, v, o, lse);

        var layout = new ZigzagLayout(n, 1);
        var transport = InProcessRing.Create(1)[0];
        float[] singleO = new float[q.Length], singleLse = new float[8 * n];
        RankReport report = RingForward.Run<float>(options, layout, transport, backend, q, k, v, singleO, singleLse);

        Assert.Equal(4, reports.Length);
        Assert.Single(report.Steps);
        Assert.True(TestProblem.MaxAbs(o, problem.Reference.O) <= problem.Tolerance.O);
        Assert.True(TestProblem.MaxAbs(singleO, problem.Reference.O) <= problem.Tolerance.O);
        Assert.True(TestProblem.MaxAbs(singleLse, problem.Reference.Lse) <= problem.Tolerance.Lse);
    }
}
