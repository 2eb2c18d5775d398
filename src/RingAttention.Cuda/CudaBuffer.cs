using RingAttention.Kernels;

namespace RingAttention.Cuda;

/// <summary>Device memory as a <see cref="BackendBuffer"/>: its address is the CUdeviceptr.</summary>
public sealed class CudaBuffer : BackendBuffer
{
    private readonly CudaDeviceVariable<byte> _memory;

    internal CudaBuffer(CudaDeviceVariable<byte> memory) => _memory = memory;

    /// <inheritdoc />
    public override nint Address => (nint)_memory.DevicePointer;

    /// <inheritdoc />
    public override long Bytes => _memory.SizeInBytes;

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _memory.Dispose();
        }
    }
}
