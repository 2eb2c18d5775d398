using RingAttention.Cpu;
using RingAttention.Decode;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Tests.Decode;

/// <summary>The per-rank session (one thread per rank, as under MPI) and the emulated form give the same bits.</summary>
public sealed class DecodeSessionTests
{
    [Theory]
    [InlineData(LayoutKind.Zigzag, 3, 1)]
    [InlineData(LayoutKind.Striped, 4, 4)]
    public void PerRankSessionsEqualTheEmulatedFormBitForBit(LayoutKind kind, int ranks, int tokensPerStep)
    {
        var options = new AttentionOptions { Batch = 2, Heads = 6, KvHeads = 2, HeadDim = 24, Causal = true };
        var problem = new DecodeProblem(options, prefill: 50, steps: 4, tokensPerStep);
        var cacheOptions = new DecodeCacheOptions { BlockSize = 2, Headroom = 1, Threads = 1 };
        var emulated = problem.RunEmulated(kind, ranks, cacheOptions);
        problem.AssertMatchesReference(emulated);

        var layout = SequenceLayouts.Create(kind, problem.Prefill, ranks);
        var transports = InProcessRing.Create(ranks);
        var perRank = new List<(float[] O, float[] Lse)>[ranks];
        int qw = options.QueryRowElements, kw = options.KeyRowElements, batch = options.Batch;
        var q = problem.Rows(problem.Whole.Q, qw, 0, problem.Prefill);
        var k = problem.Rows(problem.Whole.K, kw, 0, problem.Prefill);
        var v = problem.Rows(problem.Whole.V, kw, 0, problem.Prefill);
        Parallel.For(0, ranks, new ParallelOptions { MaxDegreeOfParallelism = ranks }, rank =>
        {
            using var backend = new CpuBackend(1);
            using var session = new DecodeSession(options, transports[rank], cacheOptions);
            int local = layout.LocalLength(rank);
            float[] Shard(float[] full, int width)
            {
                var shard = new float[batch * local * width];
                layout.Shard(rank, full, shard, batch, width);
                return shard;
            }
            session.Prefill<float>(layout, backend, Shard(q, qw), Shard(k, kw), Shard(v, kw), new float[batch * local * qw], new float[batch * options.Heads * local]);
            perRank[rank] = [];
            for (int step = 0; step < problem.Steps; step++)
            {
                int start = problem.Prefill + step * tokensPerStep;
                var o = new float[batch * tokensPerStep * qw];
                var lse = new float[batch * options.Heads * tokensPerStep];
                var report = session.Step<float>(problem.Rows(problem.Whole.Q, qw, start, tokensPerStep), problem.Rows(problem.Whole.K, kw, start, tokensPerStep),
                    problem.Rows(problem.Whole.V, kw, start, tokensPerStep), o, lse);
                Assert.Equal(session.Cache.Length, report.CacheLength);
                perRank[rank].Add((o, lse));
            }
        });
        foreach (var transport in transports)
        {
            transport.Dispose();
        }
        for (int rank = 0; rank < ranks; rank++)
        {
            for (int step = 0; step < problem.Steps; step++)
            {
                Assert.Equal(emulated[step].O, perRank[rank][step].O);
                Assert.Equal(emulated[step].Lse, perRank[rank][step].Lse);
            }
        }
    }

    [Fact]
    public void SixteenBitCachesMeetTheOracleWithinTheStorageRounding()
    {
        var options = new AttentionOptions { Heads = 4, KvHeads = 1, HeadDim = 16, Causal = true, ElementType = ElementType.BFloat16 };
        var problem = new DecodeProblem(options, prefill: 40, steps: 3, tokensPerStep: 2);
        int qw = options.QueryRowElements, kw = options.KeyRowElements;
        static BFloat16[] ToBf16(float[] values) => values.Select(x => (BFloat16)x).ToArray();
        using var decode = new EmulatedDecode(options, 3, new DecodeCacheOptions { BlockSize = 1 });
        using var backend = new CpuBackend(1);
        decode.Prefill<BFloat16>(new ZigzagLayout(40, 3), backend, ToBf16(problem.Rows(problem.Whole.Q, qw, 0, 40)), ToBf16(problem.Rows(problem.Whole.K, kw, 0, 40)),
            ToBf16(problem.Rows(problem.Whole.V, kw, 0, 40)), new BFloat16[40 * qw], new float[4 * 40]);
        for (int step = 0; step < 3; step++)
        {
            int start = 40 + step * 2;
            var o = new BFloat16[2 * qw];
            var lse = new float[4 * 2];
            decode.Step<BFloat16>(ToBf16(problem.Rows(problem.Whole.Q, qw, start, 2)), ToBf16(problem.Rows(problem.Whole.K, kw, start, 2)),
                ToBf16(problem.Rows(problem.Whole.V, kw, start, 2)), o, lse);
            var (referenceO, referenceLse) = problem.ReferenceRows(start, 2);
            // The inputs are already bf16 values (the generator rounds them); only O's final rounding is added.
            double allowed = problem.Whole.Tolerance.O + Math.Pow(2, -8) * referenceO.Max(Math.Abs);
            Assert.InRange(TestProblem.MaxAbs(o.Select(x => (float)x).ToArray(), referenceO), 0, allowed);
            Assert.InRange(TestProblem.MaxAbs(lse, referenceLse), 0, problem.Whole.Tolerance.Lse);
        }
    }
}
