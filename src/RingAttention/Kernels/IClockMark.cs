namespace RingAttention.Kernels;

/// <summary>A point in a backend's call order (a stopwatch reading, a CUDA event).</summary>
public interface IClockMark : IDisposable
{
    /// <summary>Seconds from <paramref name="earlier"/> (a mark of the same clock) to this mark, both completed (after a synchronize).</summary>
    double SecondsSince(IClockMark earlier);
}
