namespace RingAttention.Planning;

/// <summary>A link between neighbouring ranks: bandwidth each way per rank and a per-message latency.</summary>
/// <param name="Key">Name on the command line (nvlink4, ib-ndr, …).</param>
/// <param name="Name">Readable name.</param>
/// <param name="BytesPerSecond">Bandwidth one rank can send (and receive) at once, bytes/s.</param>
/// <param name="LatencySeconds">Fixed cost of one step's exchange, seconds.</param>
/// <param name="Provenance">Where the bandwidth comes from (the latency is an assumption unless measured).</param>
/// <param name="Source">The datasheet figure or measurement behind it.</param>
public sealed record LinkSpec(string Key, string Name, double BytesPerSecond, double LatencySeconds, Provenance Provenance, string Source)
{
    /// <summary>Seconds to move <paramref name="bytes"/> over the link (latency + bytes / bandwidth); 0 bytes cost nothing.</summary>
    public double TransferSeconds(double bytes) => bytes <= 0 ? 0 : LatencySeconds + bytes / BytesPerSecond;
}
