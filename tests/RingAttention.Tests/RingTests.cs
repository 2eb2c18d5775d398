using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Reference;
using RingAttention.Ring;
using Xunit.Abstractions;

namespace RingAttention.Tests;

/// <summary>The ring over emulated ranks: sharded results equal single-device attention and the float64 oracle, per rank.</summary>
public sealed class RingTests(ITestOutputHelper output)
{
    private static readonly AttentionOptions Gqa = new() { Batch = 2, Heads = 4, KvHeads = 2, HeadDim = 24 };

    public static TheoryData<LayoutKind, int, bool> RanksLayoutsMasks()
    {
        var data = new TheoryData<LayoutKind, int, bool>();
        foreach (var kind in Enum.GetValues<LayoutKind>())
        {
            foreach (int p in new[] { 1, 2, 3, 4, 8 })
            {
                data.Add(kind, p, false);
                data.Add(kind, p, true);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(RanksLayoutsMasks))]
    public void RingEqualsSingleDeviceAttentionOnEveryRank(LayoutKind kind, int ranks, bool causal)
    {
        var options = new AttentionOptions { Batch = Gqa.Batch, Heads = Gqa.Heads, KvHeads = Gqa.KvHeads, HeadDim = Gqa.HeadDim, Causal = causal };
        var problem = new TestProblem(options, 203);
        var (singleO, singleLse) = problem.RunRing(LayoutKind.Contiguous, 1);
        var (ringO, ringLse) = problem.RunRing(kind, ranks);
        var tolerance = problem.Tolerance;

        // Compare shard by shard, as each rank would see its own rows.
        var layout = SequenceLayouts.Create(kind, problem.N, ranks);
        for (int rank = 0; rank < ranks; rank++)
        {
            var ringShard = ShardO(layout, rank, ringO, options);
            var singleShard = ShardO(layout, rank, singleO, options);
            var referenceShard = ShardO(layout, rank, problem.Reference.O, options);
            double vsSingle = ringShard.Zip(singleShard, (a, b) => (double)Math.Abs(a - b)).DefaultIfEmpty(0).Max();
            double vsReference = TestProblem.MaxAbs(ringShard, referenceShard);
            output.WriteLine($"rank {rank}: |ring - single| {vsSingle:E2}, |ring - float64| {vsReference:E2} (tolerance {tolerance.O:E2})");
            Assert.True(vsReference <= tolerance.O, $"rank {rank}: error {vsReference:E3} against float64 exceeds {tolerance.O:E3}");
            Assert.True(vsSingle <= 2 * tolerance.O, $"rank {rank}: ring differs from single-device by {vsSingle:E3}");
        }
        Assert.True(TestProblem.MaxAbs(ringLse, problem.Reference.Lse) <= tolerance.Lse);
        Assert.True(TestProblem.MaxAbs(singleLse, problem.Reference.Lse) <= tolerance.Lse);
    }

    [Theory]
    [InlineData(LayoutKind.Contiguous)]
    [InlineData(LayoutKind.Zigzag)]
    [InlineData(LayoutKind.Striped)]
    public void MoreRanksThanTokens(LayoutKind kind)
    {
        foreach (int n in new[] { 1, 5 })
        {
            var problem = new TestProblem(new AttentionOptions { Heads = 2, HeadDim = 16, Causal = true }, n);
            var (o, lse) = problem.RunRing(kind, 8);
            Assert.True(TestProblem.MaxAbs(o, problem.Reference.O) <= problem.Tolerance.O);
            Assert.True(TestProblem.MaxAbs(lse, problem.Reference.Lse) <= problem.Tolerance.Lse);
        }
    }

    [Theory]
    [InlineData(LayoutKind.Contiguous)]
    [InlineData(LayoutKind.Zigzag)]
    [InlineData(LayoutKind.Striped)]
    public void FarMoreRanksThanTokensCostsLinearlyInRanks(LayoutKind kind)
    {
        // P >> N: at most N ranks hold rows; the other ranks compute nothing, and an empty block travels nowhere.
        // Every rank walking every step would post P·(P−1) exchanges (1,047,552 here); the ring posts at most a send
        // and a receive per non-empty block and hop.
        const int n = 64, p = 1024;
        var options = new AttentionOptions { Heads = 1, HeadDim = 8, Causal = true };
        var layout = SequenceLayouts.Create(kind, n, p);
        int holding = Enumerable.Range(0, p).Count(rank => layout.LocalLength(rank) > 0);
        Assert.InRange(holding, 1, n);
        using var backend = new CpuBackend();
        using var ring = new EmulatedRing(options, layout, backend);
        var reports = ring.Forward();
        long exchanges = reports.Sum(report => (long)report.ExchangesPosted);
        long kernelCalls = reports.Sum(report => (long)report.KernelCalls);
        output.WriteLine($"{kind}: {holding} ranks hold rows, {exchanges} exchanges posted, {kernelCalls} kernel calls");
        Assert.True(exchanges <= 2L * holding * (p - 1), $"{exchanges} exchanges posted; at most {2L * holding * (p - 1)} expected");
        Assert.True(kernelCalls <= 4L * holding * holding, $"{kernelCalls} kernel calls; at most {4L * holding * holding} expected");
        Assert.All(reports.Where(report => report.LocalLength == 0), report => Assert.Equal(0, report.KernelCalls));

        var problem = new TestProblem(options, n);
        var (o, lse) = problem.RunRing(kind, p);
        Assert.True(TestProblem.MaxAbs(o, problem.Reference.O) <= problem.Tolerance.O);
        Assert.True(TestProblem.MaxAbs(lse, problem.Reference.Lse) <= problem.Tolerance.Lse);
    }

    [Fact]
    public void ZigzagBalancesCausalWorkAndContiguousDoesNot()
    {
        const int n = 1024, p = 4;
        var zigzag = new ZigzagLayout(n, p);
        var contiguous = new ContiguousLayout(n, p);
        for (int step = 1; step < p; step++)
        {
            var work = Enumerable.Range(0, p).Select(rank => RingSchedule.VisiblePairs(zigzag, rank, step, causal: true)).ToArray();
            Assert.All(work, w => Assert.Equal(work[0], w));
            // Off-diagonal steps are half a block: (N/P)² / 2 pairs.
            Assert.Equal((long)(n / p) * (n / p) / 2, work[0]);
        }
        long TotalWork(ISequenceLayout layout, int rank) => Enumerable.Range(0, p).Sum(step => RingSchedule.VisiblePairs(layout, rank, step, causal: true));
        Assert.Equal(TotalWork(zigzag, 0), TotalWork(zigzag, p - 1));
        Assert.True(TotalWork(contiguous, p - 1) > 6 * TotalWork(contiguous, 0), "contiguous: the last rank does about 2P−1 times the first rank's work");
    }

    [Fact]
    public void ZigzagStepsAfterTheDiagonalComputeHalfBlocksWithoutMasks()
    {
        var layout = new ZigzagLayout(64, 4);
        const int rank = 2;
        // s ≤ r: all local queries against the first half of the incoming block; s > r: the second half of the queries against all of it.
        var early = RingSchedule.Pairs(layout, rank, 1, causal: true).ToArray();
        Assert.All(early, pair => Assert.False(pair.Masked));
        Assert.All(early, pair => Assert.Equal(layout.Segments(1)[0], pair.Key));
        var late = RingSchedule.Pairs(layout, rank, 3, causal: true).ToArray();
        Assert.All(late, pair => Assert.False(pair.Masked));
        Assert.All(late, pair => Assert.Equal(layout.Segments(rank)[1], pair.Query));
        Assert.Contains(RingSchedule.Pairs(layout, rank, 0, causal: true), pair => pair.Masked);
    }

    [Fact]
    public void EachRankSendsItsBlocksAndHoldsOnlyItsShare()
    {
        var options = new AttentionOptions { Heads = 2, HeadDim = 8 };
        const int n = 100, p = 4;
        var layout = new ContiguousLayout(n, p);
        using var backend = new CpuBackend();
        using var ring = new EmulatedRing(options, layout, backend);
        var reports = ring.Forward();
        long rowBytes = 2L * options.KeyRowElements * sizeof(float);
        for (int rank = 0; rank < p; rank++)
        {
            // Steps 0..P−2 forward the blocks of ranks r, r−1, …: every block but the one that arrives last.
            long expected = Enumerable.Range(0, p - 1).Sum(step => layout.LocalLength(RingSchedule.SourceRank(rank, step, p)) * rowBytes);
            Assert.Equal(expected, reports[rank].BytesSent);
            Assert.Equal(p, reports[rank].Steps.Count);
            long shards = layout.LocalLength(rank) * (2L * options.QueryRowElements + 2L * options.KeyRowElements) * sizeof(float);
            Assert.True(reports[rank].BytesHeld < shards + 3 * 25 * rowBytes + 25L * options.Heads * 12, $"rank {rank} holds {reports[rank].BytesHeld} bytes");
        }
    }

    [Fact]
    public void RanksOnTheirOwnThreadsWithTheSpanApiMatchTheOracle()
    {
        // The real-rank code path: each rank runs RingForward on its own thread, blocking on its peers like MPI ranks.
        var options = new AttentionOptions { Heads = 4, KvHeads = 1, HeadDim = 32, Causal = true };
        var problem = new TestProblem(options, 150);
        var layout = new ZigzagLayout(problem.N, 3);
        var transports = InProcessRing.Create(3);
        using var backend = new CpuBackend();
        var o = new float[problem.Q.Length];
        var lse = new float[options.Heads * problem.N];
        var threads = Enumerable.Range(0, 3).Select(rank => new Thread(() =>
        {
            int local = layout.LocalLength(rank);
            var q = new float[local * options.QueryRowElements];
            var k = new float[local * options.KeyRowElements];
            var v = new float[local * options.KeyRowElements];
            layout.Shard(rank, problem.Q, q, 1, options.QueryRowElements);
            layout.Shard(rank, problem.K, k, 1, options.KeyRowElements);
            layout.Shard(rank, problem.V, v, 1, options.KeyRowElements);
            var rankO = new float[q.Length];
            var rankLse = new float[options.Heads * local];
            RingForward.Run<float>(options, layout, transports[rank], backend, q, k, v, rankO, rankLse);
            lock (o)
            {
                layout.Unshard(rank, rankO, o, 1, options.QueryRowElements);
                layout.Unshard(rank, rankLse, lse, options.Heads, 1);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60))));
        Assert.True(TestProblem.MaxAbs(o, problem.Reference.O) <= problem.Tolerance.O);
        Assert.True(TestProblem.MaxAbs(lse, problem.Reference.Lse) <= problem.Tolerance.Lse);
    }

    [Fact]
    public void AnExchangeWhosePeerNeverPostsFailsNamingThePeer()
    {
        var transports = InProcessRing.Create(3, TimeSpan.FromMilliseconds(200));
        var message = new RingMessage(new Region(0, 0), new Region(0, 0));
        var pending = transports[1].PostExchange(ExchangeId.ForStep(0), message, message);
        var error = Assert.Throws<PeerFailureException>(pending.Wait);
        Assert.Equal(0, error.Peer);
        Assert.Contains("rank 1, step 0: rank 0 did not send its message within 200 ms", error.Message);
    }

    [Fact]
    public void RandomInputsAreTheSameGlobalTensorsForEveryRankCount()
    {
        var options = new AttentionOptions { Heads = 2, KvHeads = 1, HeadDim = 6 };
        var problem = new TestProblem(options, 37);
        using var backend = new CpuBackend();
        foreach (int p in new[] { 1, 3, 8 })
        {
            var layout = new StripedLayout(problem.N, p);
            for (int rank = 0; rank < p; rank++)
            {
                using var tensors = RankTensors.Allocate(backend, options, layout.LocalLength(rank));
                ShardLoader.Load(problem.Source, options, layout, rank, backend, tensors);
                var expected = new float[layout.LocalLength(rank) * options.KeyRowElements];
                layout.Shard(rank, problem.K, expected, 1, options.KeyRowElements);
                Assert.Equal(expected, ((HostBuffer)tensors.K).AsSpan<float>().ToArray());
            }
        }
    }

    [Fact]
    public void StreamingReferenceAgreesWithTheNaiveReference()
    {
        var options = new AttentionOptions { Batch = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Causal = true };
        var problem = new TestProblem(options, 300);
        var rows = Verification.SampleRows(options.Batch, problem.N, 7);
        Assert.Contains((0, 0), rows);
        Assert.Contains((1, problem.N - 1), rows);
        var streamed = StreamingReference64.Compute(options, problem.Source, rows, threads: 2);
        foreach (var row in streamed)
        {
            for (int head = 0; head < options.Heads; head++)
            {
                Assert.Equal(problem.Reference.Lse[(row.Batch * options.Heads + head) * problem.N + row.Position], row.Lse[head], 10);
                for (int c = 0; c < options.HeadDim; c++)
                {
                    Assert.Equal(problem.Reference.O[((row.Batch * problem.N + row.Position) * options.Heads + head) * options.HeadDim + c], row.O[head * options.HeadDim + c], 10);
                }
            }
        }
    }

    private static T[] ShardO<T>(ISequenceLayout layout, int rank, T[] full, AttentionOptions options)
    {
        var shard = new T[options.Batch * layout.LocalLength(rank) * options.QueryRowElements];
        layout.Shard(rank, full, shard, options.Batch, options.QueryRowElements);
        return shard;
    }
}
