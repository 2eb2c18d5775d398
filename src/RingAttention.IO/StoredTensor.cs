namespace RingAttention.IO;

/// <summary>A tensor inside a file, as its header describes it (already checked against the file's size).</summary>
/// <param name="Path">The file, as the user named it.</param>
/// <param name="Name">The tensor's name (safetensors) or the file name (.npy).</param>
/// <param name="ElementType">Storage type of the elements (little-endian, C order).</param>
/// <param name="Shape">Axis lengths, outermost first.</param>
/// <param name="DataOffset">Byte offset of the first element in the file.</param>
public sealed record StoredTensor(string Path, string Name, ElementType ElementType, IReadOnlyList<long> Shape, long DataOffset)
{
    /// <summary>Elements (the product of the shape; 1 for a scalar).</summary>
    public long Elements => ElementCount(Shape);

    /// <summary>Bytes of data.</summary>
    public long DataBytes => Elements * ElementTypes.SizeOf(ElementType);

    /// <summary>"[1, 8, 1000, 64]".</summary>
    public string ShapeText => FormatShape(Shape);

    /// <summary>Product of <paramref name="shape"/>, throwing <see cref="OverflowException"/> past 2^63.</summary>
    public static long ElementCount(IReadOnlyList<long> shape) => shape.Aggregate(1L, (product, axis) => checked(product * axis));

    /// <summary>"[a, b, c]".</summary>
    public static string FormatShape(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";
}
