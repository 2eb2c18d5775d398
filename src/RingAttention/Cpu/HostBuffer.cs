using System.Runtime.InteropServices;
using RingAttention.Kernels;

namespace RingAttention.Cpu;

/// <summary>Host memory for the CPU backend: either owned (64-byte aligned, freed on dispose) or borrowed from a caller.</summary>
public sealed unsafe class HostBuffer : BackendBuffer
{
    private nint _address;
    private readonly bool _owned;

    private HostBuffer(nint address, long bytes, bool owned)
    {
        _address = address;
        Bytes = bytes;
        _owned = owned;
    }

    /// <summary>Allocates <paramref name="bytes"/> bytes aligned to 64 (a cache line and a 512-bit vector).</summary>
    public static HostBuffer Allocate(long bytes)
    {
        Guard.AtLeast(bytes, 0);
        return new HostBuffer((nint)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), 64), bytes, owned: true);
    }

    /// <summary>Wraps memory the caller keeps alive and pinned for as long as this buffer is used.</summary>
    public static HostBuffer Borrow(void* address, long bytes) => new((nint)address, bytes, owned: false);

    /// <inheritdoc />
    public override nint Address => _address != 0 ? _address : throw new ObjectDisposedException(nameof(HostBuffer));

    /// <inheritdoc />
    public override long Bytes { get; }

    /// <summary>The buffer as a span of <typeparamref name="T"/> (at most int.MaxValue elements).</summary>
    public Span<T> AsSpan<T>() where T : unmanaged => new((void*)Address, checked((int)(Bytes / sizeof(T))));

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        nint address = Interlocked.Exchange(ref _address, 0);
        if (_owned && address != 0)
        {
            NativeMemory.AlignedFree((void*)address);
        }
    }

    /// <summary>Frees owned memory that was never disposed.</summary>
    ~HostBuffer() => Dispose(false);
}
