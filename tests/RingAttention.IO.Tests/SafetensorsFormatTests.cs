using System.Buffers.Binary;
using System.Text;

namespace RingAttention.IO.Tests;

public sealed class SafetensorsFormatTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>A file laid out by hand from the format's description: u64 header length, JSON, data.</summary>
    [Fact]
    public void ReadsAFileWrittenByHandFromTheSpec()
    {
        // Tensors deliberately out of name order in the data section, with metadata first.
        const string json = """{"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"c":{"dtype":"BF16","shape":[1,1],"data_offsets":[12,14]}}""";
        var data = new List<byte>();
        data.AddRange(BitConverter.GetBytes(1.5f));
        data.AddRange(BitConverter.GetBytes(-2f));
        data.AddRange(BitConverter.GetBytes((Half)0.25));
        data.AddRange(BitConverter.GetBytes((Half)3));
        data.AddRange(BitConverter.GetBytes((ushort)0x4049)); // bf16 3.140625
        string path = _folder["hand.safetensors"];
        WriteRaw(path, Encoding.UTF8.GetBytes(json), data.ToArray());

        var header = SafetensorsFormat.ReadHeader(path);

        Assert.Equal("pt", header.Metadata["format"]);
        Assert.Equal(8 + json.Length, header.DataStart);
        var a = header.Tensor("a");
        Assert.Equal((ElementType.Float32, header.DataStart), (a.ElementType, a.DataOffset));
        var c = header.Tensor("c");
        Assert.Equal([1L, 1], c.Shape);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(3.140625f, TensorBytes.Decode(ElementType.BFloat16, bytes.AsSpan((int)c.DataOffset, 2))[0]);
        Assert.Equal([0.25f, 3f], TensorBytes.Decode(ElementType.Float16, bytes.AsSpan((int)header.Tensor("b").DataOffset, 4)));
    }

    [Fact]
    public void WrittenFilesReadBackForEveryDtype()
    {
        string path = _folder["all.safetensors"];
        var tensors = new[] { ElementType.Float32, ElementType.Float16, ElementType.BFloat16 }
            .Select((type, i) => ($"t{i}", type, new long[] { 3, 1, 5 }, TensorBytes.Values(15, type, seed: i))).ToArray();
        TensorBytes.WriteSafetensors(path, tensors);

        var header = SafetensorsFormat.ReadHeader(path);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(0, header.DataStart % 8);
        foreach (var (name, type, shape, values) in tensors)
        {
            var tensor = header.Tensor(name);
            Assert.Equal(type, tensor.ElementType);
            Assert.Equal(shape, tensor.Shape);
            Assert.Equal(values, TensorBytes.Decode(type, bytes.AsSpan((int)tensor.DataOffset, (int)tensor.DataBytes)));
        }
    }

    [Fact]
    public void AHeaderLengthPastTheEndOfTheFileIsRejected()
    {
        string path = _folder["t.safetensors"];
        WriteRaw(path, Encoding.UTF8.GetBytes("""{"q":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"""), new byte[4], lengthOverride: 1000);
        var e = Assert.Throws<TensorFileException>(() => SafetensorsFormat.ReadHeader(path));
        Assert.Equal("header length", e.Field);
        Assert.Contains("1000", e.Message);
    }

    [Fact]
    public void AFileShorterThanTheLengthPrefixIsRejected()
    {
        string path = _folder["t.safetensors"];
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Equal("header length", Assert.Throws<TensorFileException>(() => SafetensorsFormat.ReadHeader(path)).Field);
    }

    [Theory]
    [InlineData("""{"q":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4, "tensor 'q' data_offsets", "truncated")]
    [InlineData("""{"q":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 12, "data", "actual 12")]
    [InlineData("""{"q":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"k":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "tensor 'k' data_offsets", "overlaps tensor 'q'")]
    [InlineData("""{"q":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"k":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", 12, "tensor 'k' data_offsets", "belong to no tensor")]
    [InlineData("""{"q":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "tensor 'q' data_offsets", "expected 12 bytes")]
    [InlineData("""{"q":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", 8, "tensor 'q' data_offsets", "begin ≤ end")]
    [InlineData("""{"q":{"dtype":"F32","shape":[2]}}""", 8, "tensor 'q' data_offsets", "missing")]
    [InlineData("""{"q":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, "tensor 'q' shape", "non-negative")]
    [InlineData("""{"q":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}""", 8, "tensor 'q'", "'extra'")]
    [InlineData("""{"q":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"q":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, "tensor 'q'", "twice")]
    [InlineData("""{"q":{"dtype":"F32","shape":[2],"data_offsets":[0,8]""", 8, "header", "JSON")]
    [InlineData("""[1, 2]""", 8, "header", "'{'")]
    [InlineData("""{"__metadata__":{"n":1},"q":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, "__metadata__.n", "string")]
    public void BadHeadersNameTheField(string json, int dataBytes, string field, string detail)
    {
        string path = _folder["t.safetensors"];
        WriteRaw(path, Encoding.UTF8.GetBytes(json), new byte[dataBytes]);
        var e = Assert.Throws<TensorFileException>(() => SafetensorsFormat.ReadHeader(path));
        Assert.Equal(field, e.Field);
        Assert.Contains(detail, e.Message);
        Assert.StartsWith(path + ": ", e.Message);
    }

    [Fact]
    public void AMissingTensorNameListsWhatTheFileHolds()
    {
        string path = _folder["t.safetensors"];
        TensorBytes.WriteSafetensors(path, ("query", ElementType.Float32, [1], [1f]), ("key", ElementType.Float32, [1], [2f]));
        var e = Assert.Throws<TensorFileException>(() => SafetensorsFormat.ReadHeader(path).Tensor("q"));
        Assert.Equal("tensor 'q'", e.Field);
        Assert.Contains("'key', 'query'", e.Message);
    }

    [Fact]
    public void OtherDtypesAreCheckedButOnlyRejectedWhenRequested()
    {
        string path = _folder["t.safetensors"];
        WriteRaw(path, Encoding.UTF8.GetBytes("""{"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"q":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"""), new byte[12]);
        var header = SafetensorsFormat.ReadHeader(path);
        Assert.Equal(ElementType.Float32, header.Tensor("q").ElementType);
        var e = Assert.Throws<TensorFileException>(() => header.Tensor("step"));
        Assert.Equal("tensor 'step' dtype", e.Field);
        Assert.Contains("'I64'", e.Message);
    }

    private static void WriteRaw(string path, byte[] json, byte[] data, ulong? lengthOverride = null)
    {
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, lengthOverride ?? (ulong)json.Length);
        File.WriteAllBytes(path, [.. prefix, .. json, .. data]);
    }
}
