namespace RingAttention.Ring;

/// <summary>One rank's endpoint of a <see cref="RingRendezvous"/>: every call goes to the shared core with this rank.</summary>
/// <param name="name">The transport's short name.</param>
/// <param name="ring">The shared core.</param>
/// <param name="rank">This endpoint's rank.</param>
public class RendezvousEndpoint(string name, RingRendezvous ring, int rank) : IRingTransport
{
    /// <inheritdoc />
    public string Name => name;

    /// <inheritdoc />
    public int Rank => rank;

    /// <inheritdoc />
    public int Size => ring.Size;

    /// <inheritdoc />
    public virtual IPendingExchange PostExchange(ExchangeId id, RingMessage send, RingMessage receive) => ring.PostExchange(rank, id, send, receive);

    /// <inheritdoc />
    public virtual IPendingExchange PostAllReduce(nint buffer, long count, ReduceOperation operation) => ring.PostAllReduce(rank, buffer, count, operation);

    /// <inheritdoc />
    public virtual IPendingExchange PostGather(nint send, long bytes, nint receive) => ring.PostGather(rank, send, bytes, receive);

    /// <inheritdoc />
    public virtual IPendingExchange PostBarrier() => ring.PostBarrier(rank);

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what a derived endpoint holds; the core holds nothing native.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}
