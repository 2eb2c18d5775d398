namespace RingAttention.Ring;

/// <summary>
/// What one exchange sends or receives: an ordered list of regions (e.g. K and V; or K, V, dK and dV). A send and
/// the receive it meets must list the same number of regions with the same sizes, in the same order.
/// </summary>
public readonly struct RingMessage
{
    private readonly Region[]? _regions;

    /// <summary>A message of <paramref name="regions"/> (at most <see cref="ExchangeId.MaxRegions"/>).</summary>
    public RingMessage(params Region[] regions)
    {
        ArgumentNullException.ThrowIfNull(regions);
        Guard.InRange(regions.Length, 1, ExchangeId.MaxRegions, nameof(regions) + ".Length");
        foreach (var region in regions)
        {
            Guard.AtLeast(region.Bytes, 0, nameof(regions) + "[].Bytes");
        }
        _regions = regions;
    }

    /// <summary>The regions, in order.</summary>
    public ReadOnlySpan<Region> Regions => _regions;

    /// <summary>Number of regions.</summary>
    public int Count => _regions?.Length ?? 0;

    /// <summary>Bytes of all regions together.</summary>
    public long Bytes
    {
        get
        {
            long total = 0;
            foreach (var region in Regions)
            {
                total += region.Bytes;
            }
            return total;
        }
    }

    /// <summary>Region <paramref name="index"/>.</summary>
    public Region this[int index] => Regions[index];

    /// <summary>
    /// Throws unless <paramref name="receive"/> can take <paramref name="send"/>: the same count of regions and the
    /// same size region by region. <paramref name="what"/> names the exchange in the message.
    /// </summary>
    public static void CheckMatch(RingMessage send, RingMessage receive, string what)
    {
        if (send.Count != receive.Count)
        {
            throw new InvalidOperationException($"{what}: sent {send.Count} region(s), the receiver posted {receive.Count}");
        }
        for (int i = 0; i < send.Count; i++)
        {
            if (send[i].Bytes != receive[i].Bytes)
            {
                throw new InvalidOperationException($"{what}: region {i} sent {send[i].Bytes} bytes, the receiver expected {receive[i].Bytes}");
            }
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Count} region(s), {Bytes} bytes";
}
