using RingAttention.Kernels;

namespace RingAttention.Cuda;

/// <summary>
/// A point in a stream's order, timed by the device: a CUDA event recorded at the stream's current end. The CUDA
/// backend's <see cref="IClockMark"/>; marks of different streams of one context compare too (one device clock).
/// </summary>
public sealed class CudaMark : IClockMark
{
    /// <summary>Records a mark at the current end of <paramref name="stream"/>.</summary>
    public CudaMark(CudaStream stream)
    {
        Event = new CudaEvent(stream.Context);
        try
        {
            Event.Record(stream);
        }
        catch
        {
            Event.Dispose();
            throw;
        }
    }

    /// <summary>The recorded event (other streams may wait for it).</summary>
    public CudaEvent Event { get; }

    /// <summary>Whether the work before the mark has completed (does not block).</summary>
    public bool IsCompleted => Event.Query();

    /// <inheritdoc />
    public double SecondsSince(IClockMark earlier) => earlier is CudaMark mark
        ? CudaEvent.ElapsedTime(mark.Event, Event) / 1000.0
        : throw new ArgumentException($"earlier: expected a {nameof(CudaMark)} of the same context, actual {earlier.GetType().Name}", nameof(earlier));

    /// <inheritdoc />
    public void Dispose() => Event.Dispose();
}
