using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.IO.Tests;

public sealed class FileTensorSourceTests : IDisposable
{
    private const int Batch = 2, N = 13, Heads = 4, KvHeads = 2, HeadDim = 6;

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>Q, K, V in bshd order as the runtime sees them, and the files holding them in <paramref name="layout"/> order.</summary>
    private (float[] Q, float[] K, float[] V) WriteInputs(TensorLayout layout, ElementType type, bool safetensors)
    {
        var q = TensorBytes.Values(Batch * N * Heads * HeadDim, type, seed: 11);
        var k = TensorBytes.Values(Batch * N * KvHeads * HeadDim, type, seed: 12);
        var v = TensorBytes.Values(Batch * N * KvHeads * HeadDim, type, seed: 13);
        (long[] Shape, float[] Values) InFile(float[] bshd, int heads) => layout == TensorLayout.Bshd
            ? ([Batch, N, heads, HeadDim], bshd)
            : ([Batch, heads, N, HeadDim], TensorBytes.SwapMiddleAxes(bshd, Batch, N, heads, HeadDim));
        var (qs, qf) = InFile(q, Heads);
        var (ks, kf) = InFile(k, KvHeads);
        var (vs, vf) = InFile(v, KvHeads);
        if (safetensors)
        {
            TensorBytes.WriteSafetensors(_folder["qkv.safetensors"], ("query", type, qs, qf), ("key", type, ks, kf), ("value", type, vs, vf));
        }
        else
        {
            TensorBytes.WriteNpy(_folder["q.npy"], type, qs, qf);
            TensorBytes.WriteNpy(_folder["k.npy"], type, ks, kf);
            TensorBytes.WriteNpy(_folder["v.npy"], type, vs, vf);
        }
        return (q, k, v);
    }

    private FileTensorSource Open(TensorLayout layout, bool safetensors) => safetensors
        ? FileTensorSource.OpenSafetensors(_folder["qkv.safetensors"], layout, "query", "key", "value")
        : FileTensorSource.OpenNpy(_folder["q.npy"], _folder["k.npy"], _folder["v.npy"], layout);

    public static TheoryData<ElementType, TensorLayout, bool> Formats()
    {
        var data = new TheoryData<ElementType, TensorLayout, bool>();
        foreach (var type in new[] { ElementType.Float32, ElementType.Float16, ElementType.BFloat16 })
        {
            foreach (var layout in new[] { TensorLayout.Bshd, TensorLayout.Bhsd })
            {
                data.Add(type, layout, false);
                data.Add(type, layout, true);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void RowsComeBackInRuntimeOrderForEveryDtypeAndLayout(ElementType type, TensorLayout layout, bool safetensors)
    {
        var (q, k, v) = WriteInputs(layout, type, safetensors);
        using var source = Open(layout, safetensors);

        Assert.Equal((Batch, N, Heads, KvHeads, HeadDim, type), (source.Batch, source.SequenceLength, source.Heads, source.KvHeads, source.HeadDim, source.ElementType));
        foreach (var (tensor, full, width) in new[] { (QkvTensor.Q, q, Heads * HeadDim), (QkvTensor.K, k, KvHeads * HeadDim), (QkvTensor.V, v, KvHeads * HeadDim) })
        {
            var row = new float[width];
            for (int b = 0; b < Batch; b++)
            {
                for (int position = 0; position < N; position++)
                {
                    source.ReadRow(tensor, b, position, row);
                    Assert.Equal(full.AsSpan(((b * N) + position) * width, width).ToArray(), row);
                }
            }
        }
    }

    /// <summary>Each rank's shard loaded from the mapped files equals a full read of the files sharded in memory.</summary>
    [Theory]
    [InlineData(LayoutKind.Contiguous, TensorLayout.Bshd, 3)]
    [InlineData(LayoutKind.Zigzag, TensorLayout.Bhsd, 3)]
    [InlineData(LayoutKind.Zigzag, TensorLayout.Bshd, 4)]
    [InlineData(LayoutKind.Striped, TensorLayout.Bhsd, 4)]
    [InlineData(LayoutKind.Striped, TensorLayout.Bshd, 1)]
    [InlineData(LayoutKind.Contiguous, TensorLayout.Bhsd, 16)]
    public unsafe void ShardedReadsEqualAFullReadThenShard(LayoutKind kind, TensorLayout layout, int ranks)
    {
        const ElementType type = ElementType.BFloat16;
        WriteInputs(layout, type, safetensors: false);
        using var source = Open(layout, safetensors: false);
        var (q, k, v) = (ReadFull(source, QkvTensor.Q, Heads * HeadDim), ReadFull(source, QkvTensor.K, KvHeads * HeadDim), ReadFull(source, QkvTensor.V, KvHeads * HeadDim));
        var options = new AttentionOptions { Batch = Batch, Heads = Heads, KvHeads = KvHeads, HeadDim = HeadDim, ElementType = type };
        var sequence = SequenceLayouts.Create(kind, N, ranks);
        using var backend = new CpuBackend(1);
        for (int rank = 0; rank < ranks; rank++)
        {
            int local = sequence.LocalLength(rank);
            using var tensors = RankTensors.Allocate(backend, options, local);
            ShardLoader.Load(source, options, sequence, rank, backend, tensors);
            foreach (var (full, buffer, width) in new[] { (q, tensors.Q, Heads * HeadDim), (k, tensors.K, KvHeads * HeadDim), (v, tensors.V, KvHeads * HeadDim) })
            {
                var expected = new float[Batch * local * width];
                sequence.Shard(rank, full, expected, Batch, width);
                var loaded = TensorBytes.Decode(type, new ReadOnlySpan<byte>((void*)buffer.Address, expected.Length * 2));
                Assert.Equal(expected, loaded);
            }
        }
    }

    private static float[] ReadFull(FileTensorSource source, QkvTensor tensor, int width)
    {
        var full = new float[Batch * N * width];
        for (int b = 0; b < Batch; b++)
        {
            for (int position = 0; position < N; position++)
            {
                source.ReadRow(tensor, b, position, full.AsSpan((b * N + position) * width, width));
            }
        }
        return full;
    }

    [Fact]
    public void MismatchedSequenceLengthsNameBothFiles()
    {
        TensorBytes.WriteNpy(_folder["q.npy"], ElementType.Float32, [1, 7, 2, 4], new float[56]);
        TensorBytes.WriteNpy(_folder["k.npy"], ElementType.Float32, [1, 6, 2, 4], new float[48]);
        TensorBytes.WriteNpy(_folder["v.npy"], ElementType.Float32, [1, 6, 2, 4], new float[48]);
        var e = Assert.Throws<TensorFileException>(() => Open(TensorLayout.Bshd, false));
        Assert.Equal(_folder["k.npy"], e.FilePath);
        Assert.Equal("shape", e.Field);
        Assert.Contains("seq 7", e.Message);
        Assert.Contains(_folder["q.npy"], e.Message);
    }

    [Theory]
    [InlineData(new long[] { 1, 7, 4, 4 }, new long[] { 1, 7, 3, 4 }, new long[] { 1, 7, 3, 4 }, "k.npy", "dividing")]
    [InlineData(new long[] { 1, 7, 4, 4 }, new long[] { 1, 7, 2, 4 }, new long[] { 1, 7, 1, 4 }, "v.npy", "share their heads")]
    [InlineData(new long[] { 1, 7, 4, 4 }, new long[] { 1, 7, 2, 8 }, new long[] { 1, 7, 2, 8 }, "k.npy", "head_dim 4")]
    [InlineData(new long[] { 2, 7, 4, 4 }, new long[] { 1, 7, 2, 4 }, new long[] { 1, 7, 2, 4 }, "k.npy", "batch 2")]
    [InlineData(new long[] { 7, 4, 4 }, new long[] { 1, 7, 2, 4 }, new long[] { 1, 7, 2, 4 }, "q.npy", "4 axes")]
    [InlineData(new long[] { 1, 0, 4, 4 }, new long[] { 1, 0, 2, 4 }, new long[] { 1, 0, 2, 4 }, "q.npy", "[1, 2147483647]")]
    [InlineData(new long[] { 1, 7, 1, 300 }, new long[] { 1, 7, 1, 300 }, new long[] { 1, 7, 1, 300 }, "q.npy", "head_dim ≤ 256")]
    public void InconsistentShapesAreRejectedBeforeAnyCompute(long[] qShape, long[] kShape, long[] vShape, string file, string detail)
    {
        foreach (var (name, shape) in new[] { ("q.npy", qShape), ("k.npy", kShape), ("v.npy", vShape) })
        {
            TensorBytes.WriteNpy(_folder[name], ElementType.Float32, shape, new float[StoredTensor.ElementCount(shape)]);
        }
        var e = Assert.Throws<TensorFileException>(() => Open(TensorLayout.Bshd, false));
        Assert.Equal(_folder[file], e.FilePath);
        Assert.Contains(detail, e.Message);
    }

    [Fact]
    public void MixedDtypesAreRejected()
    {
        TensorBytes.WriteSafetensors(_folder["qkv.safetensors"],
            ("query", ElementType.Float16, [1, 3, 1, 2], new float[6]),
            ("key", ElementType.Float16, [1, 3, 1, 2], new float[6]),
            ("value", ElementType.BFloat16, [1, 3, 1, 2], new float[6]));
        var e = Assert.Throws<TensorFileException>(() => Open(TensorLayout.Bshd, true));
        Assert.Equal("tensor 'value' dtype", e.Field);
        Assert.Contains("fp16", e.Message);
    }

    [Fact]
    public void AFileTruncatedBeforeMappingIsRejected()
    {
        TensorBytes.WriteNpy(_folder["q.npy"], ElementType.Float32, [1, 3, 1, 2], new float[6]);
        File.Copy(_folder["q.npy"], _folder["k.npy"]);
        File.Copy(_folder["q.npy"], _folder["v.npy"]);
        using (var file = File.OpenWrite(_folder["v.npy"]))
        {
            file.SetLength(file.Length - 4);
        }
        var e = Assert.Throws<TensorFileException>(() => Open(TensorLayout.Bshd, false));
        Assert.Equal((_folder["v.npy"], "data"), (e.FilePath, e.Field));
    }

    [Fact]
    public void ReadRowChecksItsArguments()
    {
        WriteInputs(TensorLayout.Bshd, ElementType.Float32, safetensors: false);
        using var source = Open(TensorLayout.Bshd, false);
        Assert.Throws<ArgumentException>(() => source.ReadRow(QkvTensor.K, 0, 0, new float[Heads * HeadDim]));
        Assert.Throws<ArgumentOutOfRangeException>(() => source.ReadRow(QkvTensor.Q, 0, N, new float[Heads * HeadDim]));
        Assert.Throws<ArgumentOutOfRangeException>(() => source.ReadRow(QkvTensor.Q, Batch, 0, new float[Heads * HeadDim]));
    }
}
