namespace RingAttention.Planning;

/// <summary>Achieved attention-kernel FLOP/s of one device, by problem and call size.</summary>
public interface IKernelThroughput
{
    /// <summary>Where the figures come from.</summary>
    Provenance Provenance { get; }

    /// <summary>One line naming the source of the figures (datasheet and fraction, or the measurement file).</summary>
    string Source { get; }

    /// <summary>
    /// FLOP/s (flash-attn's convention: a masked block is counted by its visible pairs) of one kernel call of
    /// <paramref name="blockRows"/> query rows, masked or not, in <paramref name="direction"/>.
    /// </summary>
    double FlopsPerSecond(ElementType type, int headDim, bool masked, long blockRows, PassDirection direction);
}
