namespace RingAttention.Planning;

/// <summary>
/// Kernel throughput looked up in measurements: the same storage type (else any), the nearest head dimension, the
/// same mask, and the measured block size nearest the call's on a log scale (no interpolation, no extrapolation).
/// Measurements of the requested direction are preferred; a backward asked of forward-only measurements is modelled
/// at the forward's FLOP/s (the bench's scaling mode measures the backward kernel when it times backward runs).
/// </summary>
public sealed class MeasuredThroughput : IKernelThroughput
{
    private readonly KernelMeasurement[] _measurements;

    /// <summary>Keeps the measurements; at least one is required.</summary>
    public MeasuredThroughput(IEnumerable<KernelMeasurement> measurements, string source)
    {
        _measurements = measurements.ToArray();
        Guard.That(_measurements.Length > 0, nameof(measurements), "at least one kernel measurement", "none");
        Guard.That(_measurements.All(m => m.FlopsPerSecond > 0 && double.IsFinite(m.FlopsPerSecond)), nameof(measurements),
            "positive finite FLOP/s", "a non-positive value");
        Source = source;
    }

    /// <inheritdoc />
    public Provenance Provenance => Provenance.Measured;

    /// <inheritdoc />
    public string Source { get; }

    /// <summary>The measurements behind the table.</summary>
    public IReadOnlyList<KernelMeasurement> Measurements => _measurements;

    /// <inheritdoc />
    public double FlopsPerSecond(ElementType type, int headDim, bool masked, long blockRows, PassDirection direction)
    {
        var candidates = _measurements.Where(m => m.Direction == direction).ToArray();
        if (candidates.Length == 0)
        {
            candidates = _measurements;
        }
        if (candidates.Any(m => m.Type == type))
        {
            candidates = candidates.Where(m => m.Type == type).ToArray();
        }
        int nearestDim = candidates.MinBy(m => Math.Abs(m.HeadDim - headDim)).HeadDim;
        candidates = candidates.Where(m => m.HeadDim == nearestDim).ToArray();
        if (candidates.Any(m => m.Causal == masked))
        {
            candidates = candidates.Where(m => m.Causal == masked).ToArray();
        }
        double logRows = Math.Log(Math.Max(1, blockRows));
        return candidates.MinBy(m => Math.Abs(Math.Log(m.BlockRows) - logRows)).FlopsPerSecond;
    }
}
