namespace RingAttention.Planning;

/// <summary>A measured forward throughput whose backward is modelled as a fixed ratio of the forward.</summary>
/// <param name="Forward">The measured figures (forward).</param>
/// <param name="BackwardRatio">Backward FLOP/s ÷ forward FLOP/s (from the datasheet preset's published kernel figures).</param>
public sealed record ScaledBackwardThroughput(IKernelThroughput Forward, double BackwardRatio) : IKernelThroughput
{
    /// <inheritdoc />
    public Provenance Provenance => Forward.Provenance;

    /// <inheritdoc />
    public string Source => $"{Forward.Source}; backward modelled at {BackwardRatio:F2} × forward";

    /// <inheritdoc />
    public double FlopsPerSecond(ElementType type, int headDim, bool masked, long blockRows, PassDirection direction) =>
        Forward.FlopsPerSecond(type, headDim, masked, blockRows, PassDirection.Forward) * (direction == PassDirection.Backward ? BackwardRatio : 1.0);
}
