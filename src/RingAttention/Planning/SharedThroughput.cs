namespace RingAttention.Planning;

/// <summary>
/// P ranks (processes) running at once on one machine whose cores they share evenly: each rank gets 1/P of the
/// whole machine's throughput (with P ≤ cores each process has cores/P threads; beyond, they time-share).
/// </summary>
/// <param name="Machine">The whole machine's measured throughput (all cores).</param>
/// <param name="Ranks">Processes sharing it.</param>
public sealed record SharedThroughput(IKernelThroughput Machine, int Ranks) : IKernelThroughput
{
    /// <inheritdoc />
    public Provenance Provenance => Machine.Provenance;

    /// <inheritdoc />
    public string Source => $"{Machine.Source}, shared by {Ranks} processes";

    /// <inheritdoc />
    public double FlopsPerSecond(ElementType type, int headDim, bool masked, long blockRows, PassDirection direction) =>
        Machine.FlopsPerSecond(type, headDim, masked, blockRows, direction) / Ranks;
}
