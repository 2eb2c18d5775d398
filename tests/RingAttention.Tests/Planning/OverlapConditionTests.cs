using RingAttention.Layouts;
using RingAttention.Planning;

namespace RingAttention.Tests.Planning;

/// <summary>The overlap thresholds against hand computations and the Ring Attention paper's minimum block sizes.</summary>
public sealed class OverlapConditionTests
{
    private static readonly AttentionOptions Mha = new() { Heads = 32, HeadDim = 128, ElementType = ElementType.BFloat16 };

    [Fact]
    public void ForwardThresholdIsFOverBScaledByTheKvShare()
    {
        // bf16 forward: b = 2, k = 1 → (2·2)/(4·1) = 1, so the threshold is (Hkv/Hq)·F/B.
        // MHA, F = 312e12 (A100 dense peak), B = 300e9 (NVLink 3 each way): 312e12 / 300e9 = 1040 tokens (the paper's 1.0K).
        Assert.Equal(1040, OverlapCondition.BaseThreshold(Mha, PassDirection.Forward, 312e12, 300e9), 6);
        // Over 100 Gb/s InfiniBand, B = 12.5e9: 312e12 / 12.5e9 = 24960 tokens (the paper reports 24.5K).
        Assert.Equal(24960, OverlapCondition.BaseThreshold(Mha, PassDirection.Forward, 312e12, 12.5e9), 6);
        // GQA 64:8 divides it by 8: H100 FA2 forward F = 340e12, NVLink 4 B = 450e9: 340e12/450e9 / 8 = 94.44 tokens.
        var gqa = new AttentionOptions { Heads = 64, KvHeads = 8, HeadDim = 128, ElementType = ElementType.BFloat16 };
        Assert.Equal(340e12 / 450e9 / 8, OverlapCondition.BaseThreshold(gqa, PassDirection.Forward, 340e12, 450e9), 9);
    }

    [Fact]
    public void BackwardThresholdCountsFp32GradientsAndTwoAndAHalfTimesTheFlops()
    {
        // Backward bf16: b = 2 + 4 (fp32 dK/dV travel with K/V), k = 2.5 → (2·6)/(4·2.5) = 1.2 × F/B.
        // F = 205e12 (FA2 backward on H100), B = 450e9: 1.2 · 205e12 / 450e9 = 546.67 tokens.
        Assert.Equal(1.2 * 205e12 / 450e9, OverlapCondition.BaseThreshold(Mha, PassDirection.Backward, 205e12, 450e9), 9);
        // fp32 storage: b = 4 forward → (2·4)/4 = 2 × F/B; backward b = 8 → (2·8)/10 = 1.6 × F/B.
        var fp32 = new AttentionOptions { Heads = 4, HeadDim = 64 };
        Assert.Equal(2 * 1e12 / 1e9, OverlapCondition.BaseThreshold(fp32, PassDirection.Forward, 1e12, 1e9), 9);
        Assert.Equal(1.6 * 1e12 / 1e9, OverlapCondition.BaseThreshold(fp32, PassDirection.Backward, 1e12, 1e9), 9);
    }

    [Fact]
    public void CausalZigzagDoublesTheRequirementAndFullMaskDoesNot()
    {
        // Device at a flat 312e12 FLOP/s, link 300e9 B/s: base 1040 tokens (above).
        var model = new CostModel(Device(312e12), Link(300e9, 0));
        // N = 4096, P = 4 zigzag causal, c = 1024 per rank in two chunks of 512. Step 0: local causal over both chunks,
        // 512·513/2 · 2 + 512² = 524,800 pairs = 0.5005 of 1024²; steps 1..2: the busiest rank does 512 × 1024 =
        // 524,288 pairs = exactly 0.5. f = 0.5 → required c = 2080 tokens; c = 1024 < 2080: not hidden.
        var causal = Condition(Mha, true, LayoutKind.Zigzag, 4096, 4, model);
        Assert.Equal(0.5, causal.WorstStepFraction, 12);
        Assert.Equal(2080, causal.RequiredTokens, 6);
        Assert.False(causal.Hides);
        // Without a mask every step is a full block: f = 1, required 1040 ≤ 1024? No: 1024 < 1040, still not hidden;
        // at N = 8192 (c = 2048) it is.
        var full = Condition(Mha, false, LayoutKind.Zigzag, 4096, 4, model);
        Assert.Equal(1.0, full.WorstStepFraction, 12);
        Assert.Equal(1040, full.RequiredTokens, 6);
        Assert.False(full.Hides);
        Assert.True(Condition(Mha, false, LayoutKind.Zigzag, 8192, 4, model).Hides);
        // Contiguous causal: step 0 is the diagonal (1024·1025/2 = 524,800 pairs, f = 0.50049), later steps a full
        // block on the busiest rank: its worst step is the diagonal.
        Assert.Equal(524800.0 / (1024 * 1024), Condition(Mha, true, LayoutKind.Contiguous, 4096, 4, model).WorstStepFraction, 12);
    }

    private static OverlapCondition Condition(AttentionOptions options, bool causal, LayoutKind kind, int n, int p, CostModel model)
    {
        var masked = new AttentionOptions { Heads = options.Heads, KvHeads = options.KvHeads, HeadDim = options.HeadDim, ElementType = options.ElementType, Causal = causal };
        var work = StepWork.Derive(SequenceLayouts.Create(kind, n, p), causal);
        return OverlapCondition.For(masked, work, PassDirection.Forward, model);
    }

    internal static DeviceSpec Device(double flops) =>
        new("test", "test device", 1e12, new DatasheetThroughput(flops, 1, 1, "test"), null, "test");

    internal static LinkSpec Link(double bytesPerSecond, double latency) =>
        new("test", "test link", bytesPerSecond, latency, Provenance.Assumed, "test");
}
