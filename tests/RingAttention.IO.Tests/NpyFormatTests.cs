using System.Buffers.Binary;
using System.Text;

namespace RingAttention.IO.Tests;

public sealed class NpyFormatTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData(ElementType.Float32, "<f4")]
    [InlineData(ElementType.Float16, "<f2")]
    [InlineData(ElementType.BFloat16, "<V2")]
    public void WrittenFilesReadBackExactly(ElementType type, string descr)
    {
        long[] shape = [2, 5, 3, 7];
        var values = TensorBytes.Values(2 * 5 * 3 * 7, type, seed: 1);
        string path = _folder["t.npy"];
        TensorBytes.WriteNpy(path, type, shape, values);

        var (tensor, read) = TensorBytes.ReadNpy(path);

        Assert.Equal(type, tensor.ElementType);
        Assert.Equal(shape, tensor.Shape);
        Assert.Equal(0, tensor.DataOffset % 64);
        Assert.Contains($"'descr': '{descr}'", File.ReadAllText(path, Encoding.Latin1));
        Assert.Equal(values, read);
    }

    [SkippableFact]
    public void ReadsWhatNumPyWritesInEveryVersionAndDtype()
    {
        NumPy.SkipIfMissing();
        // NumPy writes f4, f2 and bfloat16 bits as '|V2' records in format versions 1.0, 2.0 and 3.0, and the same
        // values widened to float32 as raw bytes to compare with.
        NumPy.Run("""
            import numpy as np, sys
            from numpy.lib import format as fmt
            folder = sys.argv[1]
            rng = np.random.default_rng(5)
            x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
            bits = x.view(np.uint32)
            bf16 = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
            arrays = {"f4": x, "f2": x.astype(np.float16), "bf16": bf16.view("V2")}
            widened = {"f4": x, "f2": x.astype(np.float16).astype(np.float32), "bf16": (bf16.astype(np.uint32) << 16).view(np.float32)}
            for name, a in arrays.items():
                for version in [(1, 0), (2, 0), (3, 0)]:
                    with open(f"{folder}/{name}_v{version[0]}.npy", "wb") as f:
                        fmt.write_array(f, a, version=version)
                widened[name].tofile(f"{folder}/{name}.f32")
            np.save(f"{folder}/saved.npy", x)
            """, _folder.Path);

        foreach (var (name, type) in new[] { ("f4", ElementType.Float32), ("f2", ElementType.Float16), ("bf16", ElementType.BFloat16) })
        {
            var expected = TensorBytes.Decode(ElementType.Float32, File.ReadAllBytes(_folder[$"{name}.f32"]));
            foreach (int version in new[] { 1, 2, 3 })
            {
                var (tensor, values) = TensorBytes.ReadNpy(_folder[$"{name}_v{version}.npy"]);
                Assert.Equal(type, tensor.ElementType);
                Assert.Equal([2L, 3, 5, 4], tensor.Shape);
                Assert.Equal(expected, values);
            }
        }
        Assert.Equal(ElementType.Float32, NpyFormat.ReadHeader(_folder["saved.npy"]).ElementType);
    }

    [SkippableFact]
    public void NumPyReadsWhatWeWrite()
    {
        NumPy.SkipIfMissing();
        long[] shape = [1, 3, 2, 5];
        foreach (var type in new[] { ElementType.Float32, ElementType.Float16, ElementType.BFloat16 })
        {
            var values = TensorBytes.Values(30, type, seed: 2);
            TensorBytes.WriteNpy(_folder[$"{type}.npy"], type, shape, values);
            File.WriteAllBytes(_folder[$"{type}.f32"], TensorBytes.Encode(ElementType.Float32, values));
        }
        NumPy.Run("""
            import numpy as np, sys
            folder = sys.argv[1]
            for name, widen in [("Float32", lambda a: a), ("Float16", lambda a: a.astype(np.float32)),
                                ("BFloat16", lambda a: (a.view(np.uint16).astype(np.uint32) << 16).view(np.float32))]:
                a = np.load(f"{folder}/{name}.npy")
                assert a.shape == (1, 3, 2, 5), (name, a.shape)
                expected = np.fromfile(f"{folder}/{name}.f32", dtype=np.float32).reshape(a.shape)
                assert np.array_equal(widen(a), expected), name
            """, _folder.Path);
    }

    [Fact]
    public void HeadersUseVersionTwoOnlyWhenVersionOneCannotHoldThem()
    {
        var small = NpyFormat.EncodeHeader(ElementType.Float32, [1, 2, 3]);
        Assert.Equal(1, small[6]);
        Assert.Equal('\n', (char)small[^1]);

        // 30,000 unit axes make a header longer than version 1.0's 2-byte length can describe.
        var shape = Enumerable.Repeat(1L, 30_000).Append(3).ToArray();
        string path = _folder["wide.npy"];
        TensorBytes.WriteNpy(path, ElementType.Float16, shape, [1f, 2f, 3f]);
        Assert.Equal(2, File.ReadAllBytes(path)[6]);
        var (tensor, values) = TensorBytes.ReadNpy(path);
        Assert.Equal(shape, tensor.Shape);
        Assert.Equal([1f, 2f, 3f], values);
    }

    [Fact]
    public void TruncatedDataIsRejected()
    {
        string path = _folder["t.npy"];
        TensorBytes.WriteNpy(path, ElementType.Float32, [4, 4], new float[16]);
        using (var file = File.OpenWrite(path))
        {
            file.SetLength(file.Length - 3);
        }
        var e = Assert.Throws<TensorFileException>(() => NpyFormat.ReadHeader(path));
        Assert.Equal("data", e.Field);
        Assert.Contains("truncated", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void ExtraBytesAfterTheDataAreRejected()
    {
        string path = _folder["t.npy"];
        TensorBytes.WriteNpy(path, ElementType.Float32, [4], new float[4]);
        File.AppendAllText(path, "junk");
        Assert.Equal("data", Assert.Throws<TensorFileException>(() => NpyFormat.ReadHeader(path)).Field);
    }

    [Fact]
    public void AHeaderLengthPastTheEndOfTheFileIsRejected()
    {
        string path = _folder["t.npy"];
        TensorBytes.WriteNpy(path, ElementType.Float32, [4], new float[4]);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), 4000);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<TensorFileException>(() => NpyFormat.ReadHeader(path));
        Assert.Equal("header length", e.Field);
        Assert.Contains("4000", e.Message);
    }

    [Fact]
    public void AHeaderLengthThatCutsTheDictIsRejected()
    {
        string path = _folder["t.npy"];
        TensorBytes.WriteNpy(path, ElementType.Float32, [4], new float[4]);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), 20);
        File.WriteAllBytes(path, bytes);
        Assert.Equal("header", Assert.Throws<TensorFileException>(() => NpyFormat.ReadHeader(path)).Field);
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", "fortran_order", "C order")]
    [InlineData("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", "descr", "big-endian")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", "descr", "'<f8'")]
    [InlineData("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 2), }", "descr", "view('V2')")]
    [InlineData("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 2), }", "descr", "structured")]
    [InlineData("{'descr': '<f4', 'shape': (2, 2), }", "fortran_order", "missing")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", "header", "'x'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", "shape", "non-negative")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), } trailing", "header", "end of the header")]
    [InlineData("['descr']", "header", "'{'")]
    public void BadHeadersNameTheField(string dict, string field, string detail)
    {
        string path = _folder["t.npy"];
        WriteRawNpy(path, dict, dataBytes: 16);
        var e = Assert.Throws<TensorFileException>(() => NpyFormat.ReadHeader(path));
        Assert.Equal(field, e.Field);
        Assert.Contains(detail, e.Message);
        Assert.StartsWith(path + ": ", e.Message);
    }

    [Fact]
    public void BadMagicAndVersionAreRejected()
    {
        string path = _folder["t.npy"];
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("PK\x03\x04 this is a zip"));
        Assert.Equal("magic", Assert.Throws<TensorFileException>(() => NpyFormat.ReadHeader(path)).Field);

        WriteRawNpy(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 16);
        var bytes = File.ReadAllBytes(path);
        bytes[6] = 4;
        File.WriteAllBytes(path, bytes);
        Assert.Equal("version", Assert.Throws<TensorFileException>(() => NpyFormat.ReadHeader(path)).Field);

        File.WriteAllBytes(path, []);
        Assert.Equal("magic", Assert.Throws<TensorFileException>(() => NpyFormat.ReadHeader(path)).Field);
    }

    [Fact]
    public void AMissingFileIsNamed()
    {
        var e = Assert.Throws<TensorFileException>(() => NpyFormat.ReadHeader(_folder["absent.npy"]));
        Assert.Equal("file", e.Field);
        Assert.Contains("absent.npy", e.Message);
    }

    [Fact]
    public void PythonTwoLongsAndDoubleQuotesAreAccepted()
    {
        string path = _folder["t.npy"];
        WriteRawNpy(path, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2L, 2L)}", 16);
        Assert.Equal([2L, 2], NpyFormat.ReadHeader(path).Shape);
    }

    private static void WriteRawNpy(string path, string dict, int dataBytes)
    {
        string header = dict.PadRight((dict.Length + 11 + 63) / 64 * 64 - 11) + "\n";
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange(Encoding.ASCII.GetBytes("NUMPY"));
        bytes.AddRange([1, 0, (byte)(header.Length & 0xFF), (byte)(header.Length >> 8)]);
        bytes.AddRange(Encoding.Latin1.GetBytes(header));
        bytes.AddRange(new byte[dataBytes]);
        File.WriteAllBytes(path, bytes.ToArray());
    }
}
