namespace RingAttention.Ring;

/// <summary>
/// A posted exchange that observed when it completed (a transport whose progress thread completes exchanges while
/// the rank computes), so the ring can report how much of each exchange was hidden behind compute.
/// </summary>
public interface ITimedExchange : IPendingExchange
{
    /// <summary><see cref="System.Diagnostics.Stopwatch"/> timestamp of the exchange's completion; valid once <see cref="IPendingExchange.Wait"/> returned.</summary>
    long CompletedTimestamp { get; }
}
