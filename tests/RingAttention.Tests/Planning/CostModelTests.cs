using RingAttention.Layouts;
using RingAttention.Planning;
using RingAttention.Ring;

namespace RingAttention.Tests.Planning;

/// <summary>The schedule-derived work and the per-step predictions, against hand computations.</summary>
public sealed class CostModelTests
{
    [Theory]
    [InlineData(LayoutKind.Contiguous)]
    [InlineData(LayoutKind.Zigzag)]
    [InlineData(LayoutKind.Striped)]
    public void ClosedFormCountsEqualTheSchedulesRowByRowCount(LayoutKind kind)
    {
        foreach (int n in new[] { 1, 7, 64, 257, 1000 })
        {
            foreach (int p in new[] { 1, 2, 3, 5, 8 })
            {
                var layout = SequenceLayouts.Create(kind, n, p);
                foreach (bool causal in new[] { false, true })
                {
                    var work = StepWork.Derive(layout, causal);
                    for (int step = 0; step < p; step++)
                    {
                        for (int rank = 0; rank < p; rank++)
                        {
                            Assert.Equal(RingSchedule.VisiblePairs(layout, rank, step, causal), work.At(step, rank).Pairs);
                        }
                    }
                    // Every visible pair once: N² without a mask, N(N+1)/2 with the causal mask.
                    Assert.Equal(causal ? (long)n * (n + 1) / 2 : (long)n * n, work.TotalPairs);
                }
            }
        }
    }

    [Theory]
    [InlineData(LayoutKind.Contiguous)]
    [InlineData(LayoutKind.Zigzag)]
    [InlineData(LayoutKind.Striped)]
    public void WindowedCountsEqualARowByRowCount(LayoutKind kind)
    {
        foreach (var (n, p, window) in new[] { (64, 4, 1), (257, 3, 17), (1000, 8, 100), (1000, 5, 999), (96, 6, 5000) })
        {
            var layout = SequenceLayouts.Create(kind, n, p);
            var work = StepWork.Derive(layout, causal: true, window);
            for (int step = 0; step < p; step++)
            {
                for (int rank = 0; rank < p; rank++)
                {
                    // Row by row: query q sees key k when q − window < k ≤ q.
                    long expected = 0;
                    foreach (int q in Positions(layout, rank))
                    {
                        expected += Positions(layout, RingSchedule.SourceRank(rank, step, p)).Count(k => k <= q && k > q - window);
                    }
                    Assert.Equal(expected, work.At(step, rank).Pairs);
                }
            }
        }
        // Hand count: N = 8, window 2: query 0 sees 1 key, queries 1..7 see 2 → 15 pairs; over P = 2 contiguous ranks,
        // rank 1 at step 1 (queries 4..7 against keys 0..3) computes only (4, 3): 1 pair.
        var small = StepWork.Derive(SequenceLayouts.Create(LayoutKind.Contiguous, 8, 2), causal: true, window: 2);
        Assert.Equal(15, small.TotalPairs);
        Assert.Equal(1, small.At(1, 1).Pairs);
        Assert.Equal(1, small.At(1, 1).MaskedPairs);
    }

    private static IEnumerable<int> Positions(ISequenceLayout layout, int rank) =>
        layout.Segments(rank).SelectMany(s => Enumerable.Range(0, s.Count).Select(s.GlobalAt));

    [Fact]
    public void TwoRanksWithoutMaskExposeTheFirstExchange()
    {
        // N = 8, P = 2 contiguous, H = Hkv = 1, D = 1, fp32, device 1e12 FLOP/s, link 1e9 B/s, no latency.
        // Each step each rank computes 4 × 4 pairs × 4·D = 64 FLOPs → 64 ps. Step 0 also receives the other rank's
        // K and V: 4 rows × 1 element × 2 tensors × 4 bytes = 32 bytes → 32 ns, exposed; step 1 has no exchange.
        // Pass = 32 ns + 64 ps = 32.064 ns; ideal (one device, 8 × 8 × 4 = 256 FLOPs) = 256 ps;
        // efficiency = 256 ps / (2 × 32.064 ns) = 0.0039920...
        var options = new AttentionOptions { Heads = 1, HeadDim = 1 };
        var model = new CostModel(OverlapConditionTests.Device(1e12), OverlapConditionTests.Link(1e9, 0));
        var pass = model.Predict(options, 8, LayoutKind.Contiguous, 2, PassDirection.Forward);
        Assert.Equal(2, pass.Steps.Count);
        Close(64e-12, pass.Steps[0].MaxComputeSeconds);
        Close(32e-9, pass.Steps[0].TransferSeconds);
        Assert.True(pass.Steps[0].ExposesCommunication);
        Assert.Equal(0, pass.Steps[1].TransferSeconds);
        Assert.False(pass.Steps[1].ExposesCommunication);
        Close(32.064e-9, pass.PassSeconds);
        Close(256e-12, pass.IdealSeconds);
        Assert.Equal(256e-12 / (2 * 32.064e-9), pass.Efficiency, 12);
        Assert.Equal("bandwidth-bound", pass.Bound);

        // Backward: 2.5× the FLOPs (160 ps per step) and 4 + 4 bytes per element (64 bytes → 64 ns) per exchange.
        var backward = model.Predict(options, 8, LayoutKind.Contiguous, 2, PassDirection.Backward);
        Close(160e-12, backward.Steps[0].MaxComputeSeconds);
        Close(64e-9, backward.Steps[0].TransferSeconds);
    }

    /// <summary>Equal to 12 significant digits.</summary>
    private static void Close(double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-12 * Math.Abs(expected), $"expected {expected:R}, actual {actual:R}");

    [Fact]
    public void CausalContiguousIsImbalancedAndZigzagIsNot()
    {
        // N = 4096, P = 4, causal, fast link. Contiguous: step s, the busiest rank (P−1) computes a full 1024² block at
        // every step after the diagonal: pass ≈ (½ + 3) blocks; ideal = 4096²/2 pairs = 8 blocks on one device →
        // efficiency ≈ 8 / (4 × 3.5) = 0.571. Zigzag: ½ block per step on every rank: pass ≈ 4 × ½ = 2 blocks →
        // efficiency ≈ 8 / (4 × 2) = 1 (up to the diagonal's extra 512 pairs per chunk).
        var options = new AttentionOptions { Heads = 1, HeadDim = 64, Causal = true };
        var model = new CostModel(OverlapConditionTests.Device(1e12), OverlapConditionTests.Link(1e15, 0));
        var contiguous = model.Predict(options, 4096, LayoutKind.Contiguous, 4, PassDirection.Forward);
        var zigzag = model.Predict(options, 4096, LayoutKind.Zigzag, 4, PassDirection.Forward);
        Assert.Equal(8.0 / 14, contiguous.Efficiency, 3);
        Assert.Equal(1.0, zigzag.Efficiency, 3);
        Assert.Equal(0, zigzag.ExposedSteps);
    }
}
