using RingAttention.Cuda.Native;
using static RingAttention.Cuda.Native.NativeCuda;

namespace RingAttention.Cuda;

/// <summary>A CUDA event: a point in a stream's order, for ordering streams and timing work on the device.</summary>
public sealed class CudaEvent : IDisposable
{
    private readonly CudaContext _context;
    private readonly EventHandle _handle;

    /// <summary>Creates an event; <paramref name="timing"/> false makes it cheaper when it only orders streams.</summary>
    public CudaEvent(CudaContext context, bool timing = true)
    {
        _context = context;
        context.SetCurrent();
        ThrowIfFailed(cuEventCreate(out nint cudaEvent, timing ? EventDefault : EventDisableTiming));
        _handle = new EventHandle(context.Handle, cudaEvent);
    }

    /// <summary>The CUevent.</summary>
    public nint Event => _handle.DangerousGetHandle();

    /// <summary>Records the event at the current end of <paramref name="stream"/>.</summary>
    public void Record(CudaStream stream)
    {
        _context.SetCurrent();
        ThrowIfFailed(cuEventRecord(Event, stream.Stream));
    }

    /// <summary>Blocks until the recorded work has completed.</summary>
    public void Synchronize()
    {
        _context.SetCurrent();
        ThrowIfFailed(cuEventSynchronize(Event));
    }

    /// <summary>Whether the recorded work has completed, without blocking (as ManagedCuda's <c>CudaEvent.Query</c>).</summary>
    public bool Query()
    {
        _context.SetCurrent();
        var result = cuEventQuery(Event);
        if (result == CudaResult.NotReady)
        {
            return false;
        }
        ThrowIfFailed(result);
        return true;
    }

    /// <summary>Milliseconds between two completed events (as ManagedCuda's <c>CudaEvent.ElapsedTime</c>).</summary>
    public static float ElapsedTime(CudaEvent start, CudaEvent end)
    {
        start._context.SetCurrent();
        ThrowIfFailed(cuEventElapsedTime(out float milliseconds, start.Event, end.Event));
        return milliseconds;
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();
}
