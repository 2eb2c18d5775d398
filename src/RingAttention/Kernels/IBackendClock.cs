namespace RingAttention.Kernels;

/// <summary>
/// A backend's clock: marks recorded in the backend's call order and read after
/// <see cref="IAttentionBackend.Synchronize"/>. Every backend has one (the CPU's reads a stopwatch when the call is
/// made; CUDA's records events on its stream, since a host stopwatch around an enqueue measures only the enqueue),
/// so the ring times every backend the same way. Transports mark their operations in the clock of the memory they
/// move, which is the backend's.
/// </summary>
public interface IBackendClock
{
    /// <summary>Records a point at the current end of the backend's work.</summary>
    IClockMark Mark();
}
