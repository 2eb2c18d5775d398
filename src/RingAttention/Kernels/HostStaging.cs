using System.Runtime.InteropServices;

namespace RingAttention.Kernels;

/// <summary>
/// Host access to a range of backend memory, written once for every caller (shard loading, output writing, the span
/// API): on a host-memory backend the view is the buffer itself; on a device it is a native host copy, downloaded
/// when opened for reading and uploaded by <see cref="Commit"/>, moved in pieces a span can address, so shards larger
/// than 2 GiB go through too.
/// </summary>
public sealed unsafe class HostStaging : IDisposable
{
    private readonly IAttentionBackend _backend;
    private readonly BackendBuffer _buffer;
    private readonly long _offset;
    private byte* _copy;

    private HostStaging(IAttentionBackend backend, BackendBuffer buffer, long offset, long bytes, bool read)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(buffer);
        Guard.AtLeast(offset, 0);
        Guard.InRange(bytes, 0, buffer.Bytes - offset);
        (_backend, _buffer, _offset, Bytes) = (backend, buffer, offset, bytes);
        if (backend.IsHostMemory)
        {
            Address = buffer.Address + (nint)offset;
            return;
        }
        _copy = (byte*)NativeMemory.Alloc((nuint)Math.Max(bytes, 1));
        Address = (nint)_copy;
        for (long done = 0; read && done < bytes; done += int.MaxValue)
        {
            backend.Download(buffer, offset + done, new Span<byte>(_copy + done, (int)Math.Min(int.MaxValue, bytes - done)));
        }
    }

    /// <summary>The host address of the view's first byte.</summary>
    public nint Address { get; }

    /// <summary>Bytes in the view.</summary>
    public long Bytes { get; }

    /// <summary>A view of <paramref name="bytes"/> bytes at <paramref name="offset"/> holding the buffer's contents (after pending work).</summary>
    public static HostStaging ForReading(IAttentionBackend backend, BackendBuffer buffer, long bytes, long offset = 0) =>
        new(backend, buffer, offset, bytes, read: true);

    /// <summary>A view to write; <see cref="Commit"/> makes what was written the buffer's contents.</summary>
    public static HostStaging ForWriting(IAttentionBackend backend, BackendBuffer buffer, long bytes, long offset = 0) =>
        new(backend, buffer, offset, bytes, read: false);

    /// <summary>Copies the whole of <paramref name="source"/> into <paramref name="destination"/> at <paramref name="offset"/>.</summary>
    public static void Upload<T>(IAttentionBackend backend, ReadOnlySpan<T> source, BackendBuffer destination, long offset = 0) where T : unmanaged =>
        backend.Upload(MemoryMarshal.AsBytes(source), destination, offset);

    /// <summary>Copies <paramref name="destination"/>.Length elements of <paramref name="source"/> at <paramref name="offset"/> to host memory.</summary>
    public static void Download<T>(IAttentionBackend backend, BackendBuffer source, Span<T> destination, long offset = 0) where T : unmanaged =>
        backend.Download(source, offset, MemoryMarshal.AsBytes(destination));

    /// <summary>The view as a span of <typeparamref name="T"/> (at most 2^31 − 1 elements).</summary>
    public Span<T> AsSpan<T>() where T : unmanaged => new((void*)Address, checked((int)(Bytes / sizeof(T))));

    /// <summary>Makes what was written to the view the buffer's contents (a no-op on host memory).</summary>
    public void Commit()
    {
        for (long done = 0; _copy is not null && done < Bytes; done += int.MaxValue)
        {
            _backend.Upload(new ReadOnlySpan<byte>(_copy + done, (int)Math.Min(int.MaxValue, Bytes - done)), _buffer, _offset + done);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        NativeMemory.Free(_copy);
        _copy = null;
    }
}
