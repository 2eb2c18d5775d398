using System.Buffers.Binary;
using System.Text;

namespace RingAttention.IO;

/// <summary>
/// NumPy's .npy format, versions 1.0, 2.0 and 3.0: the magic "\x93NUMPY", a version, a little-endian header length
/// (2 bytes in 1.0, 4 in 2.0 and 3.0), a Python dict literal <c>{'descr': …, 'fortran_order': …, 'shape': (…)}</c>
/// padded with spaces and a newline, then the data. Only C-order little-endian float32 ('&lt;f4'), float16 ('&lt;f2')
/// and bfloat16 are accepted. NumPy has no bfloat16 code, so bfloat16 is recorded as 2-byte void records: '&lt;V2' is
/// what np.save writes for an ml_dtypes.bfloat16 array (and what this writer writes), '|V2' what it writes for
/// <c>a.view('V2')</c>; the descr 'bfloat16' some hand-written headers use is accepted too.
/// </summary>
public static class NpyFormat
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Headers of real tensors are a few hundred bytes; a larger length field is corrupt, not a header to read.</summary>
    private const long MaxHeaderBytes = 1 << 20;

    /// <summary>The descr written for each storage type.</summary>
    public static string Descr(ElementType type) => type switch
    {
        ElementType.Float32 => "<f4",
        ElementType.Float16 => "<f2",
        ElementType.BFloat16 => "<V2",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "expected Float32, Float16 or BFloat16"),
    };

    /// <summary>Reads and checks the header of the .npy file at <paramref name="path"/>, including that the data it
    /// describes is exactly what follows the header.</summary>
    public static StoredTensor ReadHeader(string path)
    {
        using var file = TensorFiles.OpenRead(path);
        long fileLength = file.Length;
        Span<byte> prefix = stackalloc byte[12];
        int prefixRead = file.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
        if (prefixRead < 10 || !prefix[..6].SequenceEqual(Magic))
        {
            throw new TensorFileException(path, "magic", $"expected a .npy file starting with \\x93NUMPY, actual {Describe(prefix[..Math.Min(prefixRead, 6)])} ({fileLength} bytes)");
        }
        byte major = prefix[6], minor = prefix[7];
        if (major is < 1 or > 3 || minor != 0)
        {
            throw new TensorFileException(path, "version", $"expected format version 1.0, 2.0 or 3.0, actual {major}.{minor}");
        }
        int lengthBytes = major == 1 ? 2 : 4;
        if (prefixRead < 8 + lengthBytes)
        {
            throw new TensorFileException(path, "header length", $"file ends after {fileLength} bytes, inside the header length field");
        }
        long headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..]) : BinaryPrimitives.ReadUInt32LittleEndian(prefix[8..]);
        long headerStart = 8 + lengthBytes;
        if (headerLength > MaxHeaderBytes)
        {
            throw new TensorFileException(path, "header length", $"expected at most {MaxHeaderBytes} bytes, actual {headerLength}");
        }
        if (headerStart + headerLength > fileLength)
        {
            throw new TensorFileException(path, "header length",
                $"the header length field says {headerLength} bytes, but only {fileLength - headerStart} bytes follow it (file of {fileLength} bytes)");
        }
        var headerBytes = new byte[headerLength];
        file.Position = headerStart;
        file.ReadExactly(headerBytes);
        // Versions 1.0 and 2.0 store the header in latin-1, 3.0 in UTF-8.
        string header = major == 3 ? DecodeUtf8(path, headerBytes) : Encoding.Latin1.GetString(headerBytes);
        var (descr, fortranOrder, shape) = NpyHeaderParser.Parse(path, header);
        if (fortranOrder)
        {
            throw new TensorFileException(path, "fortran_order", "expected False (C order), actual True; save np.ascontiguousarray(a) instead");
        }
        var type = ElementTypeOf(path, descr);
        var tensor = new StoredTensor(path, Path.GetFileName(path), type, shape, headerStart + headerLength);
        long expected = CheckedDataBytes(path, tensor);
        long actual = fileLength - tensor.DataOffset;
        if (actual != expected)
        {
            throw new TensorFileException(path, "data", actual < expected
                ? $"truncated: shape {tensor.ShapeText} of {ElementTypes.ShortName(type)} needs {expected} bytes after the header, the file has {actual}"
                : $"shape {tensor.ShapeText} of {ElementTypes.ShortName(type)} needs {expected} bytes after the header, the file has {actual} ({actual - expected} extra)");
        }
        return tensor;
    }

    /// <summary>
    /// The bytes before the data of a .npy file holding <paramref name="shape"/> elements of <paramref name="type"/>:
    /// version 1.0 when the header fits its 2-byte length, else 2.0; padded so the data starts at a multiple of 64.
    /// </summary>
    public static byte[] EncodeHeader(ElementType type, IReadOnlyList<long> shape)
    {
        string shapeText = shape.Count == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        string dict = $"{{'descr': '{Descr(type)}', 'fortran_order': False, 'shape': {shapeText}, }}";
        // Version 1.0 unless the padded header overflows its 2-byte length field.
        int major = (10 + dict.Length + 1 + 63) / 64 * 64 - 10 <= ushort.MaxValue ? 1 : 2;
        int headerStart = major == 1 ? 10 : 12;
        int total = (headerStart + dict.Length + 1 + 63) / 64 * 64;
        var bytes = new byte[total];
        Magic.CopyTo(bytes, 0);
        bytes[6] = (byte)major;
        int headerLength = total - headerStart;
        if (major == 1)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)headerLength);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)headerLength);
        }
        Encoding.Latin1.GetBytes(dict, bytes.AsSpan(headerStart));
        bytes.AsSpan(headerStart + dict.Length, total - 1 - headerStart - dict.Length).Fill((byte)' ');
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    private static ElementType ElementTypeOf(string path, string descr) => descr switch
    {
        "<f4" => ElementType.Float32,
        "<f2" => ElementType.Float16,
        "<V2" or "|V2" or "bfloat16" => ElementType.BFloat16,
        ">f4" or ">f2" or ">V2" => throw new TensorFileException(path, "descr",
            $"expected little-endian data, actual big-endian '{descr}'; save a.astype(a.dtype.newbyteorder('<')) instead"),
        "<u2" or "<i2" => throw new TensorFileException(path, "descr",
            $"expected '<f4', '<f2' or bfloat16 as 2-byte void records ('<V2'), actual '{descr}' (16-bit integers); for bfloat16 bits save a.view('V2')"),
        _ => throw new TensorFileException(path, "descr", $"expected '<f4' (float32), '<f2' (float16) or bfloat16 ('<V2', '|V2', 'bfloat16'), actual '{descr}'"),
    };

    private static long CheckedDataBytes(string path, StoredTensor tensor)
    {
        try
        {
            return checked(tensor.Elements * ElementTypes.SizeOf(tensor.ElementType));
        }
        catch (OverflowException e)
        {
            throw new TensorFileException(path, "shape", $"{tensor.ShapeText} has more elements than a file can hold", e);
        }
    }

    private static string DecodeUtf8(string path, byte[] bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new TensorFileException(path, "header", "expected UTF-8 text (format version 3.0), actual invalid bytes", e);
        }
    }

    private static string Describe(ReadOnlySpan<byte> bytes) => bytes.Length == 0 ? "an empty file" : Convert.ToHexString(bytes);
}
