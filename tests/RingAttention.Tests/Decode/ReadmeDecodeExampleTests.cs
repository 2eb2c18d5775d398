using RingAttention.Cpu;
using RingAttention.Decode;
using RingAttention.Layouts;

namespace RingAttention.Tests.Decode;

/// <summary>The decode example in README.md, kept compiling and checked against the oracle with real data.</summary>
public sealed class ReadmeDecodeExampleTests
{
    [Fact]
    public void TheReadmeDecodeExamplePrefillsAndGenerates()
    {
        var options = new AttentionOptions { Heads = 8, KvHeads = 2, HeadDim = 64, Causal = true };
        const int prompt = 1000;
        var problem = new DecodeProblem(options, prompt, steps: 4, tokensPerStep: 1);
        float[] q = problem.Rows(problem.Whole.Q, 8 * 64, 0, prompt), k = problem.Rows(problem.Whole.K, 2 * 64, 0, prompt), v = problem.Rows(problem.Whole.V, 2 * 64, 0, prompt);
        using var backend = new CpuBackend();

        using var decode = new EmulatedDecode(options, ranks: 4, new DecodeCacheOptions { BlockSize = 16 });
        decode.Prefill<float>(new ZigzagLayout(prompt, 4), backend, q, k, v, new float[q.Length], new float[8 * prompt]);

        float[] o = new float[8 * 64], lse = new float[8];
        for (int step = 0; step < 4; step++)
        {
            float[] qNew = problem.Rows(problem.Whole.Q, 8 * 64, prompt + step, 1);
            float[] kNew = problem.Rows(problem.Whole.K, 2 * 64, prompt + step, 1), vNew = problem.Rows(problem.Whole.V, 2 * 64, prompt + step, 1);
            DecodeStepReport[] perRank = decode.Step<float>(qNew, kNew, vNew, o, lse);

            Assert.Equal(4, perRank.Length);
            var (referenceO, referenceLse) = problem.ReferenceRows(prompt + step, 1);
            Assert.InRange(TestProblem.MaxAbs(o, referenceO), 0, problem.Whole.Tolerance.O);
            Assert.InRange(TestProblem.MaxAbs(lse, referenceLse), 0, problem.Whole.Tolerance.Lse);
        }
        // The 16-token blocks all went to rank 0 so far; the prompt's shards stay where the prefill put them.
        Assert.Equal([250 + 4, 250, 250, 250], decode.Sessions.Select(s => s.Cache.Length));
        Assert.Equal(prompt + 4, decode.SequenceLength);
    }
}
