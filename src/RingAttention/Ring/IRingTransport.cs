namespace RingAttention.Ring;

/// <summary>A K/V block as it travels: two regions of equal size (device or host addresses of the backend's memory).</summary>
/// <param name="Key">Address of the K block.</param>
/// <param name="Value">Address of the V block.</param>
/// <param name="BytesEach">Bytes in each of K and V.</param>
public readonly record struct KvMessage(nint Key, nint Value, long BytesEach);

/// <summary>
/// Moves K/V blocks one hop around the ring with the semantics of NCCL send/recv: the exchange is posted, runs
/// while the caller computes, and is awaited. Until <see cref="IPendingExchange.Wait"/> returns, the send
/// buffer must not be written and the receive buffer neither read nor written.
/// </summary>
public interface IRingTransport : IDisposable
{
    /// <summary>Short name (in-process, mpi, nccl, cuda-copy).</summary>
    string Name { get; }

    /// <summary>This endpoint's rank.</summary>
    int Rank { get; }

    /// <summary>Ranks in the ring.</summary>
    int Size { get; }

    /// <summary>Posts step <paramref name="step"/>'s exchange: <paramref name="send"/> to rank+1, <paramref name="receive"/> from rank−1.</summary>
    IPendingExchange PostExchange(KvMessage send, KvMessage receive, int step);
}

/// <summary>A posted exchange.</summary>
public interface IPendingExchange
{
    /// <summary>Blocks until both the send and the receive completed; throws if the peer failed or did not answer in time.</summary>
    void Wait();
}
