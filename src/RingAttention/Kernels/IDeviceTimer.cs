namespace RingAttention.Kernels;

/// <summary>
/// A backend whose calls run asynchronously (a GPU stream) times its own work: a host stopwatch around an
/// enqueue measures only the enqueue. Marks are recorded in the backend's call order and read after
/// <see cref="IAttentionBackend.Synchronize"/>.
/// </summary>
public interface IDeviceTimer
{
    /// <summary>Records a point at the current end of the backend's work.</summary>
    IDeviceMark Mark();
}

/// <summary>A point in a backend's call order (a CUDA event).</summary>
public interface IDeviceMark : IDisposable
{
    /// <summary>Seconds from <paramref name="earlier"/> to this mark, both completed (after a synchronize).</summary>
    double SecondsSince(IDeviceMark earlier);
}
