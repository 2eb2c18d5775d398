using RingAttention.Layouts;

namespace RingAttention.Bench;

/// <summary>One scaling point: which scaling, mask, layout, P and N.</summary>
internal sealed record ScalingCase(ScalingKind Kind, bool Causal, LayoutKind Layout, int Ranks, int SequenceLength)
{
    /// <summary>The problem of this case.</summary>
    public AttentionOptions Options(AttentionOptions shape) => new()
    {
        Batch = shape.Batch, Heads = shape.Heads, KvHeads = shape.KvHeads, HeadDim = shape.HeadDim, ElementType = shape.ElementType, Causal = Causal,
    };

    /// <summary>Lower-case layout name as the runtime prints it.</summary>
    public string LayoutName => Layout.ToString().ToLowerInvariant();

    /// <summary>Lower-case scaling name.</summary>
    public string KindName => Kind.ToString().ToLowerInvariant();
}
