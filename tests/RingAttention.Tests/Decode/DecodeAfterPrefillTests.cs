using RingAttention.Decode;
using RingAttention.Layouts;

namespace RingAttention.Tests.Decode;

/// <summary>Decode after a ring prefill equals full causal attention over the concatenated sequence (float64 oracle).</summary>
public sealed class DecodeAfterPrefillTests
{
    public static TheoryData<LayoutKind, int, int> Cases()
    {
        var data = new TheoryData<LayoutKind, int, int>();
        foreach (var layout in Enum.GetValues<LayoutKind>())
        {
            foreach (int ranks in new[] { 1, 2, 3, 8 })
            {
                foreach (int tokens in new[] { 1, 4 })
                {
                    data.Add(layout, ranks, tokens);
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryStepMatchesTheOracle(LayoutKind layout, int ranks, int tokensPerStep)
    {
        // GQA (4 query heads on 2 KV heads), batch 2, blocks of 3 tokens so appends cross block boundaries and
        // every rank gets some, no headroom so the caches grow.
        var options = new AttentionOptions { Batch = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Causal = true };
        var problem = new DecodeProblem(options, prefill: 37, steps: 7, tokensPerStep);
        var steps = problem.RunEmulated(layout, ranks, new DecodeCacheOptions { BlockSize = 3, Headroom = 0, Threads = 2 });
        problem.AssertMatchesReference(steps);
    }

    [Fact]
    public void RanksWithEmptyShardsContributeNothing()
    {
        // Two prompt tokens on eight ranks (contiguous: six empty shards) and one block of 64 for all appends: most
        // ranks never hold a token, and their −inf partials must neither change the result nor make NaN.
        var options = new AttentionOptions { Heads = 2, KvHeads = 1, HeadDim = 8, Causal = true };
        var problem = new DecodeProblem(options, prefill: 2, steps: 3, tokensPerStep: 2);
        using var decode = new EmulatedDecode(options, 8, new DecodeCacheOptions { BlockSize = 64, Threads = 1 });
        var steps = problem.RunEmulated(LayoutKind.Contiguous, 8, new DecodeCacheOptions(), decode);
        problem.AssertMatchesReference(steps);
        Assert.Equal(6, decode.Sessions.Count(s => s.Cache.Length == 0));
        Assert.All(steps, step => Assert.DoesNotContain(step.O, float.IsNaN));
    }

    [Fact]
    public void TheThreadCountDoesNotChangeABit()
    {
        var options = new AttentionOptions { Heads = 4, KvHeads = 1, HeadDim = 32, Causal = true };
        var problem = new DecodeProblem(options, prefill: 1500, steps: 2, tokensPerStep: 3);
        var one = problem.RunEmulated(LayoutKind.Zigzag, 2, new DecodeCacheOptions { Threads = 1 });
        var three = problem.RunEmulated(LayoutKind.Zigzag, 2, new DecodeCacheOptions { Threads = 3 });
        problem.AssertMatchesReference(one);
        for (int step = 0; step < one.Count; step++)
        {
            Assert.Equal(one[step].O, three[step].O);
            Assert.Equal(one[step].Lse, three[step].Lse);
        }
    }

    [Fact]
    public void NaNInTheCachePropagates()
    {
        var options = new AttentionOptions { Heads = 2, HeadDim = 8, Causal = true };
        var problem = new DecodeProblem(options, prefill: 9, steps: 1, tokensPerStep: 1);
        problem.Whole.V[0] = float.NaN;   // position 0, head 0: every later query of head 0 sees it
        using var decode = new EmulatedDecode(options, 3);
        using var backend = new RingAttention.Cpu.CpuBackend(1);
        int qw = options.QueryRowElements, kw = options.KeyRowElements;
        decode.Prefill<float>(new ZigzagLayout(9, 3), backend, problem.Rows(problem.Whole.Q, qw, 0, 9), problem.Rows(problem.Whole.K, kw, 0, 9),
            problem.Rows(problem.Whole.V, kw, 0, 9), new float[9 * qw], new float[2 * 9]);
        var o = new float[qw];
        var lse = new float[2];
        decode.Step<float>(problem.Rows(problem.Whole.Q, qw, 9, 1), problem.Rows(problem.Whole.K, kw, 9, 1), problem.Rows(problem.Whole.V, kw, 9, 1), o, lse);
        Assert.True(float.IsNaN(o[0]), "head 0 saw a NaN value: its output must be NaN");
        Assert.DoesNotContain(o.AsSpan(8, 8).ToArray(), float.IsNaN);
        Assert.False(float.IsNaN(lse[1]));
    }
}
