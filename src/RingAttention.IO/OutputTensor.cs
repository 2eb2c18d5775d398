namespace RingAttention.IO;

/// <summary>One output file of a job: where it goes, the tensor's name, storage type, shape and element order.</summary>
/// <param name="Path">Target path (.npy or .safetensors); the file appears there only once every rank's rows are written.</param>
/// <param name="Name">Tensor name inside a safetensors file (ignored for .npy).</param>
/// <param name="ElementType">Storage type of the elements.</param>
/// <param name="Geometry">Where each (batch, position, head) run lies.</param>
/// <param name="Shape">The shape the file records (the geometry's, or fewer axes when head_dim is implied).</param>
public sealed record OutputTensor(string Path, string Name, ElementType ElementType, SequenceTensorGeometry Geometry, IReadOnlyList<long> Shape)
{
    /// <summary>An attention output O: [batch, seq, heads, headDim] or [batch, heads, seq, headDim] in the storage type.</summary>
    public static OutputTensor Attention(string path, ElementType type, TensorLayout layout, int batch, int sequenceLength, int heads, int headDim, string name = "o")
    {
        var geometry = new SequenceTensorGeometry(layout, batch, sequenceLength, heads, headDim);
        return new OutputTensor(path, name, type, geometry, geometry.Shape);
    }

    /// <summary>Log-sum-exp rows: fp32 [batch, heads, seq] whatever the tensor layout (flash-attn's and PyTorch's order).</summary>
    public static OutputTensor LogSumExp(string path, int batch, int sequenceLength, int heads, string name = "lse") =>
        new(path, name, ElementType.Float32, new SequenceTensorGeometry(TensorLayout.Bhsd, batch, sequenceLength, heads, 1), [batch, heads, sequenceLength]);

    /// <summary>Header bytes of the file; the data follows them.</summary>
    internal byte[] EncodeHeader() => TensorFiles.FormatOf(Path) switch
    {
        TensorFileFormat.Npy => NpyFormat.EncodeHeader(ElementType, Shape),
        _ => SafetensorsFormat.EncodeHeader([(Name, ElementType, Shape)],
            new Dictionary<string, string> { ["layout"] = Shape.Count == 4 ? Geometry.Layout.ToString().ToLowerInvariant() : "bhs" }).Header,
    };

    /// <summary>Bytes of data.</summary>
    internal long DataBytes => Geometry.Elements * ElementTypes.SizeOf(ElementType);
}
