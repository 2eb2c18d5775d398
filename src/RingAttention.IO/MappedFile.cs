using System.IO.MemoryMappedFiles;

namespace RingAttention.IO;

/// <summary>
/// A whole file mapped read-only. Mapping costs address space, not memory: only the pages a rank touches are read
/// in, and they are shared page cache that the OS can drop, so a rank reading its shard holds O(N/P) of it.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _pointer;

    private MappedFile(MemoryMappedFile map, MemoryMappedViewAccessor view, long length)
    {
        (_map, _view, Length) = (map, view, length);
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref _pointer);
        _pointer += view.PointerOffset;
    }

    /// <summary>Bytes mapped (the file's length when it was opened).</summary>
    public long Length { get; }

    /// <summary>Maps <paramref name="path"/>, which must still hold <paramref name="requiredLength"/> bytes.</summary>
    public static MappedFile Open(string path, long requiredLength)
    {
        var stream = TensorFiles.OpenRead(path);
        try
        {
            long length = stream.Length;
            if (length < requiredLength || length == 0)
            {
                throw new TensorFileException(path, "data", $"truncated while opening: expected {requiredLength} bytes, actual {length}");
            }
            var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            try
            {
                return new MappedFile(map, map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read), length);
            }
            catch
            {
                map.Dispose();
                throw;
            }
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Address of byte <paramref name="offset"/>.</summary>
    public byte* At(long offset) => _pointer + offset;

    public void Dispose()
    {
        if (_pointer != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointer = null;
        }
        _view.Dispose();
        _map.Dispose();
    }
}
