using RingAttention.Kernels;

namespace RingAttention.Ring;

/// <summary>
/// A posted exchange that runs on an asynchronous device (a GPU transport's stream) and marks, in the backend's own
/// clock, when it was posted and when it completed. A host stopwatch there sees only enqueues, so the ring reports
/// the exchange time and the part of it hidden behind compute from these marks instead. The marks belong to the
/// caller once <see cref="IPendingExchange.Wait"/> returned: it reads them after the backend synchronised, then
/// disposes them.
/// </summary>
public interface IDeviceTimedExchange : IPendingExchange
{
    /// <summary>
    /// Recorded in the backend's call order when the exchange was posted. The exchange waits for it, and so does
    /// every kernel the rank enqueues afterwards: it precedes both, so spans measured from it are never negative.
    /// </summary>
    IDeviceMark Posted { get; }

    /// <summary>Recorded where the exchange's transfers complete (on the transport's stream).</summary>
    IDeviceMark Completed { get; }
}
