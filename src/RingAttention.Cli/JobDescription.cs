using RingAttention.Layouts;

namespace RingAttention.Cli;

/// <summary>
/// The job a run describes once options and files are resolved: the attention problem, the sequence, the ring and
/// its layout. Everything downstream (host, passes, report) reads the problem from here, not from option text.
/// </summary>
/// <param name="Attention">Shape, mask, scale and storage type.</param>
/// <param name="SequenceLength">Global sequence length N.</param>
/// <param name="Layout">How the sequence is split over the ring's ranks.</param>
internal sealed record JobDescription(AttentionOptions Attention, int SequenceLength, ISequenceLayout Layout)
{
    /// <summary>Ranks in the ring.</summary>
    public int Ranks => Layout.Ranks;

    /// <summary>FLOPs of the forward pass by flash-attn's convention (4·B·N²·H·D, halved when causal).</summary>
    public double ForwardFlops => Attention.ForwardFlops(SequenceLength);

    /// <summary>How <see cref="ForwardFlops"/> was counted, for the report.</summary>
    public string FlopFormula => Attention.Causal ? "4·B·N²·H·D/2" : "4·B·N²·H·D";
}
