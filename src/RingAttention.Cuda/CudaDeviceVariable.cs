using System.Runtime.InteropServices;
using RingAttention.Cuda.Native;
using static RingAttention.Cuda.Native.NativeCuda;

namespace RingAttention.Cuda;

/// <summary>
/// Device memory holding <see cref="Size"/> values of <typeparamref name="T"/> (as ManagedCuda's
/// <c>CudaDeviceVariable&lt;T&gt;</c>): allocated on creation (256-byte aligned), freed on dispose.
/// </summary>
public sealed unsafe class CudaDeviceVariable<T> : IDisposable where T : unmanaged
{
    private readonly CudaContext _context;
    private readonly DeviceMemoryHandle _handle;

    /// <summary>Allocates <paramref name="size"/> elements (contents undefined).</summary>
    public CudaDeviceVariable(CudaContext context, long size)
    {
        Guard.AtLeast(size, 0);
        _context = context;
        Size = size;
        context.SetCurrent();
        ThrowIfFailed(cuMemAlloc_v2(out ulong pointer, (nuint)Math.Max(SizeInBytes, 1)));
        _handle = new DeviceMemoryHandle(context.Handle, pointer);
    }

    /// <summary>Elements.</summary>
    public long Size { get; }

    /// <summary>Bytes.</summary>
    public long SizeInBytes => Size * sizeof(T);

    /// <summary>The CUdeviceptr of element 0.</summary>
    public ulong DevicePointer => (ulong)_handle.DangerousGetHandle();

    /// <summary>
    /// Copies <paramref name="source"/> to the device starting at element <paramref name="offset"/> (blocks until done).
    /// The copy is ordered on the legacy default stream, which does not wait for non-blocking streams such as
    /// <see cref="CudaBackend.ComputeStream"/>: synchronize those first.
    /// </summary>
    public void CopyToDevice(ReadOnlySpan<T> source, long offset = 0)
    {
        CheckRange(offset, source.Length);
        _context.SetCurrent();
        fixed (T* data = source)
        {
            ThrowIfFailed(cuMemcpyHtoD_v2(DevicePointer + (ulong)(offset * sizeof(T)), data, (nuint)(source.Length * sizeof(T))));
        }
    }

    /// <summary>
    /// Copies elements from <paramref name="offset"/> on to <paramref name="destination"/> (blocks until done). Ordered on
    /// the legacy default stream, which does not wait for non-blocking streams: synchronize those first.
    /// </summary>
    public void CopyToHost(Span<T> destination, long offset = 0)
    {
        CheckRange(offset, destination.Length);
        _context.SetCurrent();
        fixed (T* data = destination)
        {
            ThrowIfFailed(cuMemcpyDtoH_v2(data, DevicePointer + (ulong)(offset * sizeof(T)), (nuint)(destination.Length * sizeof(T))));
        }
    }

    /// <summary>
    /// Sets every 32-bit word to <paramref name="value"/> (<typeparamref name="T"/> must be a multiple of 4 bytes), on the
    /// legacy default stream (not ordered after work on non-blocking streams).
    /// </summary>
    public void Memset(uint value)
    {
        Guard.That(sizeof(T) % 4 == 0, nameof(T), "a type whose size is a multiple of 4 bytes", typeof(T).Name);
        _context.SetCurrent();
        ThrowIfFailed(cuMemsetD32_v2(DevicePointer, value, (nuint)(SizeInBytes / 4)));
    }

    /// <summary>Copies all elements to a new array.</summary>
    public T[] ToArray()
    {
        var values = new T[Size];
        CopyToHost(values);
        return values;
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

    private void CheckRange(long offset, long count)
    {
        if (offset < 0 || offset + count > Size)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"offset: expected elements [{offset}, {offset + count}) inside [0, {Size}), actual outside");
        }
    }
}
