namespace RingAttention.IO;

/// <summary>How a [batch, sequence, heads, headDim] tensor is ordered in a file (C order, last axis fastest).</summary>
public enum TensorLayout
{
    /// <summary>[batch, seq, heads, headDim]: flash-attn's order.</summary>
    Bshd,
    /// <summary>[batch, heads, seq, headDim]: PyTorch scaled_dot_product_attention's order.</summary>
    Bhsd,
}

/// <summary>
/// Where the elements of one attention tensor lie in a file laid out as <see cref="Layout"/>: the shape the file
/// records and the element offset of each (batch, position, head) run of <see cref="HeadDim"/> elements.
/// </summary>
/// <param name="Layout">Axis order in the file.</param>
/// <param name="Batch">B.</param>
/// <param name="SequenceLength">N.</param>
/// <param name="Heads">Heads of this tensor (query heads for Q and O, KV heads for K and V).</param>
/// <param name="HeadDim">D; 1 for per-head scalars such as LSE.</param>
public readonly record struct SequenceTensorGeometry(TensorLayout Layout, int Batch, int SequenceLength, int Heads, int HeadDim)
{
    /// <summary>Elements in the whole tensor.</summary>
    public long Elements => (long)Batch * SequenceLength * Heads * HeadDim;

    /// <summary>The four-axis shape in file order.</summary>
    public long[] Shape => Layout == TensorLayout.Bshd
        ? [Batch, SequenceLength, Heads, HeadDim]
        : [Batch, Heads, SequenceLength, HeadDim];

    /// <summary>Element offset of the first of the <see cref="HeadDim"/> elements at (batch, position, head).</summary>
    public long Offset(int batch, int position, int head) => Layout == TensorLayout.Bshd
        ? (((long)batch * SequenceLength + position) * Heads + head) * HeadDim
        : (((long)batch * Heads + head) * SequenceLength + position) * HeadDim;

    /// <summary>Reads a four-axis file shape in <paramref name="layout"/> order.</summary>
    public static SequenceTensorGeometry FromShape(TensorLayout layout, IReadOnlyList<long> shape)
    {
        if (shape.Count != 4 || shape.Any(axis => axis is < 0 or > int.MaxValue))
        {
            throw new ArgumentException($"{nameof(shape)}: expected 4 axes ({Axes(layout)}) in [0, {int.MaxValue}], actual {StoredTensor.FormatShape(shape)}.", nameof(shape));
        }
        var axes = shape.Select(axis => (int)axis).ToArray();
        return layout == TensorLayout.Bshd
            ? new SequenceTensorGeometry(layout, axes[0], axes[1], axes[2], axes[3])
            : new SequenceTensorGeometry(layout, axes[0], axes[2], axes[1], axes[3]);
    }

    /// <summary>The axis names of <paramref name="layout"/>, e.g. "batch, seq, heads, head_dim".</summary>
    public static string Axes(TensorLayout layout) =>
        layout == TensorLayout.Bshd ? "batch, seq, heads, head_dim" : "batch, heads, seq, head_dim";
}
