using RingAttention.Cuda.Native;
using static RingAttention.Cuda.Native.NativeCuda;

namespace RingAttention.Cuda;

/// <summary>A non-blocking CUDA stream: work on it runs in order, concurrently with other streams.</summary>
public sealed class CudaStream : IDisposable
{
    private readonly CudaContext _context;
    private readonly StreamHandle _handle;

    /// <summary>Creates a stream in <paramref name="context"/>.</summary>
    public CudaStream(CudaContext context)
    {
        _context = context;
        context.SetCurrent();
        ThrowIfFailed(cuStreamCreate(out nint stream, StreamNonBlocking));
        _handle = new StreamHandle(context.Handle, stream);
    }

    /// <summary>The CUstream.</summary>
    public nint Stream => _handle.DangerousGetHandle();

    /// <summary>The stream's context.</summary>
    public CudaContext Context => _context;

    /// <summary>Blocks until all work on the stream has completed.</summary>
    public void Synchronize()
    {
        _context.SetCurrent();
        ThrowIfFailed(cuStreamSynchronize(Stream));
    }

    /// <summary>Makes later work on this stream wait until <paramref name="cudaEvent"/> has completed (the host does not block).</summary>
    public void WaitEvent(CudaEvent cudaEvent)
    {
        _context.SetCurrent();
        ThrowIfFailed(cuStreamWaitEvent(Stream, cudaEvent.Event, 0));
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();
}
