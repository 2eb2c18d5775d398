using RingAttention.Kernels;

namespace RingAttention.Ring;

/// <summary>
/// Moves messages one hop around the ring with the semantics of NCCL send/recv: an exchange is posted, runs while
/// the caller computes, and is awaited. Several exchanges may be in flight at once, told apart by their
/// <see cref="ExchangeId"/> (channel and step). Until <see cref="IPendingExchange.Wait"/> returns, the send regions
/// must not be written and the receive regions neither read nor written. Every transport also offers the
/// collectives of <see cref="IRingCollectives"/>.
/// </summary>
public interface IRingTransport : IRingCollectives, IDisposable
{
    /// <summary>Short name (in-process, mpi, nccl, cuda-copy).</summary>
    string Name { get; }

    /// <summary>This endpoint's rank.</summary>
    int Rank { get; }

    /// <summary>Ranks in the ring.</summary>
    int Size { get; }

    /// <summary>
    /// Posts exchange <paramref name="id"/>: <paramref name="send"/> to rank + 1, <paramref name="receive"/> from
    /// rank − 1. The previous rank's send of the same id must match <paramref name="receive"/> region by region.
    /// An empty message (<c>default</c>, no regions) leaves that link unused: nothing is sent, or nothing is awaited
    /// from rank − 1, whose send of the same id must then be empty too (both sides decide from global facts).
    /// </summary>
    IPendingExchange PostExchange(ExchangeId id, RingMessage send, RingMessage receive);
}

/// <summary>A posted exchange or collective.</summary>
public interface IPendingExchange
{
    /// <summary>
    /// Blocks until the operation completed on this rank (for an exchange: its send and its receive); throws
    /// <see cref="PeerFailureException"/> naming the peer when one failed or did not answer in time.
    /// </summary>
    void Wait();

    /// <summary>
    /// When the operation was posted, in the clock of the memory it moves (the backend's: host stopwatch or device
    /// events). It precedes every kernel the rank enqueues afterwards, so spans measured from it are never negative.
    /// </summary>
    IClockMark Posted { get; }

    /// <summary>When the operation's transfers completed, same clock; valid once <see cref="Wait"/> returned.</summary>
    IClockMark Completed { get; }
}
