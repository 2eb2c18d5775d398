namespace RingAttention.Planning;

/// <summary>
/// When a layout's exchanges hide behind compute (Ring Attention's c ≥ F/B, generalised): a step computing a
/// fraction f of a full c×c block does f·c²·4·D·k·Hq FLOPs (k = 1 forward, 2.5 backward) while 2·c·D·Hkv·b bytes
/// travel (b = storage bytes forward, + 4 for fp32 dK/dV backward); it hides when
/// c ≥ (Hkv/Hq) · (2·b)/(4·k) · (F/B) / f. Forward in 16-bit that is (Hkv/Hq)·F/B, doubled for causal half-block
/// steps (f = ½). f is the busiest rank's share at the worst step that overlaps an exchange, from the schedule.
/// Latency and the masked kernel's lower speed are left out (the full model has them).
/// </summary>
/// <param name="Layout">Layout name.</param>
/// <param name="Direction">Forward or backward (modelled).</param>
/// <param name="BaseTokens">(Hkv/Hq)·(2b)/(4k)·F/B: the threshold for a full block per step, tokens per rank.</param>
/// <param name="WorstStepFraction">f: the smallest busiest-rank block fraction over the steps 0..P−2; 1 when P = 1.</param>
/// <param name="TokensPerRank">c = N/P of the problem.</param>
public sealed record OverlapCondition(string Layout, PassDirection Direction, double BaseTokens, double WorstStepFraction, double TokensPerRank)
{
    /// <summary>The block size needed: BaseTokens / f, tokens per rank.</summary>
    public double RequiredTokens => BaseTokens / WorstStepFraction;

    /// <summary>True when c meets the requirement.</summary>
    public bool Hides => TokensPerRank >= RequiredTokens;

    /// <summary>The base threshold (Hkv/Hq)·(2b)/(4k)·F/B for a device FLOP/s and a link bandwidth.</summary>
    public static double BaseThreshold(AttentionOptions options, PassDirection direction, double flopsPerSecond, double bytesPerSecond)
    {
        double kvShare = (double)options.EffectiveKvHeads / options.Heads;
        double bytesPerToken = 2.0 * direction.BytesPerKvElement(options.ElementType);
        double flopsPerPairPerDim = direction.FlopsPerPair(1);
        return kvShare * bytesPerToken / flopsPerPairPerDim * flopsPerSecond / bytesPerSecond;
    }

    /// <summary>The condition for the schedule <paramref name="work"/> on <paramref name="model"/>'s device and link.</summary>
    public static OverlapCondition For(AttentionOptions options, StepWork work, PassDirection direction, CostModel model)
    {
        double tokensPerRank = (double)work.Layout.SequenceLength / work.Layout.Ranks;
        double flops = model.Device.Throughput.FlopsPerSecond(options.ElementType, options.HeadDim, false, (long)Math.Ceiling(tokensPerRank), direction);
        double fraction = 1;
        for (int step = 0; step + 1 < work.Steps; step++)
        {
            fraction = Math.Min(fraction, work.Step(step).Max(w => w.Pairs) / (tokensPerRank * tokensPerRank));
        }
        return new OverlapCondition(work.Layout.Name, direction, BaseThreshold(options, direction, flops, model.Link.BytesPerSecond), fraction, tokensPerRank);
    }
}
