namespace RingAttention.Planning;

/// <summary>Bytes the busiest rank holds for one attention layer, by use (weights and other layers not included).</summary>
/// <param name="Ranks">P.</param>
/// <param name="RowsPerRank">Rows of the rank holding the most (the layout's largest shard).</param>
/// <param name="ForwardBytes">
/// A forward pass as this runtime allocates it (RingRank): Q, K, V, O shards, fp32 LSE, two K/V receive buffers
/// (P &gt; 1), the fp32 accumulator (16-bit storage only) and the fp32 row max and row sum.
/// </param>
/// <param name="ForwardBackwardBytes">
/// Modelled (no backward ring exists yet): the larger of the forward and the backward's peak, which holds Q, K, V,
/// O, dO, dQ, dK, dV in the storage type, fp32 LSE and D = rowsum(dO∘O), the fp32 dQ accumulator, two K/V receive
/// buffers and the travelling fp32 dK/dV (two when P &gt; 1: the one being added to and the one in flight).
/// </param>
/// <param name="DecodeCacheBytes">The rank's shard of the K/V cache for decoding (K and V in the storage type).</param>
public sealed record RankMemory(int Ranks, long RowsPerRank, long ForwardBytes, long ForwardBackwardBytes, long DecodeCacheBytes)
{
    /// <summary>The bytes a pass in <paramref name="direction"/> needs (forward, or forward and backward).</summary>
    public long PassBytes(PassDirection direction) => direction == PassDirection.Forward ? ForwardBytes : ForwardBackwardBytes;
}
