namespace RingAttention.Planning;

/// <summary>
/// A device's dense 16-bit tensor peak times the fraction a published FlashAttention kernel reaches on it, per
/// direction; the same for every call size and mask (the model's simplest assumption: small calls are slower).
/// </summary>
/// <param name="PeakFlopsPerSecond">Dense bf16/fp16 tensor-core peak from the datasheet, FLOP/s.</param>
/// <param name="ForwardFraction">Fraction of the peak a forward kernel reaches.</param>
/// <param name="BackwardFraction">Fraction of the peak a backward kernel reaches.</param>
/// <param name="Source">Which datasheet and which published kernel figures.</param>
public sealed record DatasheetThroughput(double PeakFlopsPerSecond, double ForwardFraction, double BackwardFraction, string Source) : IKernelThroughput
{
    /// <inheritdoc />
    public Provenance Provenance => Provenance.Datasheet;

    /// <inheritdoc />
    public double FlopsPerSecond(ElementType type, int headDim, bool masked, long blockRows, PassDirection direction) =>
        PeakFlopsPerSecond * (direction == PassDirection.Forward ? ForwardFraction : BackwardFraction);
}
