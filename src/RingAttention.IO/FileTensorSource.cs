using RingAttention.Inputs;

namespace RingAttention.IO;

/// <summary>
/// Q, K and V read from tensor files (three .npy files, or three named tensors of one safetensors file), memory
/// mapped, row by row at global positions: each rank touches only the rows of its shard, in either tensor layout.
/// Shapes, dtypes and head counts are checked against each other when the files are opened, before any compute.
/// The storage type of the problem is the files' dtype; rows come out widened to fp32 (exactly).
/// </summary>
public sealed unsafe class FileTensorSource : ITensorSource, IDisposable
{
    private readonly MappedFile[] _files;
    private readonly nint[] _data;
    private readonly SequenceTensorGeometry[] _geometry;
    private readonly int _elementSize;

    private FileTensorSource(TensorLayout layout, StoredTensor[] tensors, MappedFile[] files, MappedFile[] fileOfTensor, SequenceTensorGeometry[] geometry)
    {
        (Layout, Tensors, _files, _geometry) = (layout, tensors, files, geometry);
        _data = tensors.Select((t, i) => (nint)fileOfTensor[i].At(t.DataOffset)).ToArray();
        ElementType = tensors[0].ElementType;
        _elementSize = ElementTypes.SizeOf(ElementType);
    }

    /// <summary>Tensor layout of the files.</summary>
    public TensorLayout Layout { get; }

    /// <summary>Q, K and V as their files describe them.</summary>
    public IReadOnlyList<StoredTensor> Tensors { get; }

    /// <summary>Batch size B.</summary>
    public int Batch => _geometry[0].Batch;

    /// <inheritdoc />
    public int SequenceLength => _geometry[0].SequenceLength;

    /// <summary>Query heads H.</summary>
    public int Heads => _geometry[0].Heads;

    /// <summary>Key/value heads (a divisor of <see cref="Heads"/>).</summary>
    public int KvHeads => _geometry[1].Heads;

    /// <summary>Head dimension D.</summary>
    public int HeadDim => _geometry[0].HeadDim;

    /// <summary>Storage type shared by Q, K and V.</summary>
    public ElementType ElementType { get; }

    /// <summary>Where the shape came from, for messages: "q.npy [1, 8, 1000, 64] (bhsd)".</summary>
    public string Origin => $"{Label(Tensors[0])} {Tensors[0].ShapeText} ({Layout.ToString().ToLowerInvariant()})";

    /// <summary>Opens Q, K and V from three .npy files.</summary>
    public static FileTensorSource OpenNpy(string queryPath, string keyPath, string valuePath, TensorLayout layout)
    {
        var tensors = new[] { NpyFormat.ReadHeader(queryPath), NpyFormat.ReadHeader(keyPath), NpyFormat.ReadHeader(valuePath) };
        var geometry = Check(tensors, layout, inOneFile: false);
        var files = new List<MappedFile>();
        try
        {
            foreach (var tensor in tensors)
            {
                files.Add(MappedFile.Open(tensor.Path, tensor.DataOffset + tensor.DataBytes));
            }
            return new FileTensorSource(layout, tensors, files.ToArray(), files.ToArray(), geometry);
        }
        catch
        {
            files.ForEach(f => f.Dispose());
            throw;
        }
    }

    /// <summary>Opens Q, K and V as the tensors <paramref name="queryName"/>, <paramref name="keyName"/> and
    /// <paramref name="valueName"/> of one safetensors file.</summary>
    public static FileTensorSource OpenSafetensors(string path, TensorLayout layout, string queryName = "q", string keyName = "k", string valueName = "v")
    {
        var header = SafetensorsFormat.ReadHeader(path);
        var tensors = new[] { header.Tensor(queryName), header.Tensor(keyName), header.Tensor(valueName) };
        var geometry = Check(tensors, layout, inOneFile: true);
        var file = MappedFile.Open(path, tensors.Max(t => t.DataOffset + t.DataBytes));
        return new FileTensorSource(layout, tensors, [file], [file, file, file], geometry);
    }

    /// <inheritdoc />
    public void ReadRow(QkvTensor tensor, int batch, int position, Span<float> row)
    {
        int index = (int)tensor - 1;
        if ((uint)index > 2)
        {
            throw new ArgumentOutOfRangeException(nameof(tensor), tensor, "expected Q, K or V");
        }
        var geometry = _geometry[index];
        int d = geometry.HeadDim, heads = geometry.Heads;
        if (row.Length != heads * d)
        {
            throw new ArgumentException($"{nameof(row)}: expected {heads * d} elements (heads × head_dim of {Tensors[index].Name}), actual {row.Length}.", nameof(row));
        }
        if ((uint)batch >= (uint)geometry.Batch || (uint)position >= (uint)geometry.SequenceLength)
        {
            throw new ArgumentOutOfRangeException(nameof(position),
                $"(batch, position): expected [0, {geometry.Batch}) × [0, {geometry.SequenceLength}), actual ({batch}, {position}).");
        }
        byte* data = (byte*)_data[index];
        if (Layout == TensorLayout.Bshd)
        {
            RingAttention.Cpu.StorageConversion.Widen(ElementType, data + geometry.Offset(batch, position, 0) * _elementSize, row);
            return;
        }
        for (int head = 0; head < heads; head++)
        {
            RingAttention.Cpu.StorageConversion.Widen(ElementType, data + geometry.Offset(batch, position, head) * _elementSize, row.Slice(head * d, d));
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var file in _files)
        {
            file.Dispose();
        }
    }

    private static SequenceTensorGeometry[] Check(StoredTensor[] tensors, TensorLayout layout, bool inOneFile)
    {
        string axes = SequenceTensorGeometry.Axes(layout);
        string layoutName = layout.ToString().ToLowerInvariant();
        var geometry = new SequenceTensorGeometry[3];
        for (int i = 0; i < 3; i++)
        {
            var t = tensors[i];
            string field = Field(t, "shape", inOneFile);
            if (t.Shape.Count != 4)
            {
                throw new TensorFileException(t.Path, field, $"expected 4 axes ({axes}) for layout {layoutName}, actual {t.ShapeText}");
            }
            if (t.Shape.Any(axis => axis is < 1 or > int.MaxValue))
            {
                throw new TensorFileException(t.Path, field, $"expected every axis ({axes}) in [1, {int.MaxValue}], actual {t.ShapeText}");
            }
            geometry[i] = SequenceTensorGeometry.FromShape(layout, t.Shape);
            if (geometry[i].HeadDim > AttentionOptions.MaxHeadDim)
            {
                throw new TensorFileException(t.Path, field, $"expected head_dim ≤ {AttentionOptions.MaxHeadDim}, actual {geometry[i].HeadDim} ({t.ShapeText}, layout {layoutName})");
            }
        }
        var q = geometry[0];
        for (int i = 1; i < 3; i++)
        {
            var t = tensors[i];
            var g = geometry[i];
            string field = Field(t, "shape", inOneFile);
            foreach (var (axis, expected, actual) in new[] { ("batch", q.Batch, g.Batch), ("seq", q.SequenceLength, g.SequenceLength), ("head_dim", q.HeadDim, g.HeadDim) })
            {
                if (expected != actual)
                {
                    throw new TensorFileException(t.Path, field,
                        $"expected {axis} {expected} as in {Label(tensors[0])} {tensors[0].ShapeText}, actual {actual} ({t.ShapeText}; layout {layoutName}: {axes})");
                }
            }
        }
        if (geometry[2].Heads != geometry[1].Heads)
        {
            throw new TensorFileException(tensors[2].Path, Field(tensors[2], "shape", inOneFile),
                $"expected the shape of {Label(tensors[1])} {tensors[1].ShapeText} (K and V share their heads), actual {tensors[2].ShapeText}");
        }
        if (q.Heads % geometry[1].Heads != 0)
        {
            throw new TensorFileException(tensors[1].Path, Field(tensors[1], "shape", inOneFile),
                $"expected kv heads dividing the {q.Heads} query heads of {Label(tensors[0])} (GQA), actual {geometry[1].Heads} ({tensors[1].ShapeText}; layout {layoutName}: {axes})");
        }
        for (int i = 1; i < 3; i++)
        {
            if (tensors[i].ElementType != tensors[0].ElementType)
            {
                throw new TensorFileException(tensors[i].Path, Field(tensors[i], "dtype", inOneFile),
                    $"expected {ElementTypes.ShortName(tensors[0].ElementType)} as in {Label(tensors[0])}, actual {ElementTypes.ShortName(tensors[i].ElementType)}");
            }
        }
        return geometry;
    }

    private static string Field(StoredTensor tensor, string field, bool inOneFile) => inOneFile ? $"tensor '{tensor.Name}' {field}" : field;

    private static string Label(StoredTensor tensor) =>
        tensor.Name == Path.GetFileName(tensor.Path) ? tensor.Path : $"tensor '{tensor.Name}'";
}
