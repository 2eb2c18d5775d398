namespace RingAttention.Ring;

/// <summary>
/// Collectives over all ranks of the ring, for merges (split-KV decode: max, then sums) and job bookkeeping.
/// Every rank posts the same collectives in the same order; like exchanges they are posted, then awaited, so one
/// thread can drive every rank of an emulated ring. Addresses are in the transport's memory (host for the
/// in-process and MPI rings, device for the GPU rings) and stay untouched until the wait returns.
/// </summary>
public interface IRingCollectives
{
    /// <summary>Combines <paramref name="count"/> fp32 values at <paramref name="buffer"/> over all ranks, in place: every rank gets the result.</summary>
    IPendingExchange PostAllReduce(nint buffer, long count, ReduceOperation operation);

    /// <summary>
    /// Collects every rank's <paramref name="bytes"/> bytes at <paramref name="send"/> on rank 0, into
    /// <paramref name="receive"/> in rank order (Size × bytes there; ignored on other ranks).
    /// </summary>
    IPendingExchange PostGather(nint send, long bytes, nint receive);

    /// <summary>Completes once every rank has posted it.</summary>
    IPendingExchange PostBarrier();
}
