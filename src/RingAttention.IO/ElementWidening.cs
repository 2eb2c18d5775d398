using System.Numerics.Tensors;

namespace RingAttention.IO;

/// <summary>Stored little-endian elements to fp32 (exact for all three storage types).</summary>
internal static unsafe class ElementWidening
{
    public static void Widen(ElementType type, byte* source, Span<float> destination)
    {
        switch (type)
        {
            case ElementType.Float32:
                new ReadOnlySpan<float>(source, destination.Length).CopyTo(destination);
                break;
            case ElementType.Float16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source, destination.Length), destination);
                break;
            case ElementType.BFloat16:
                var bits = new ReadOnlySpan<ushort>(source, destination.Length);
                for (int i = 0; i < bits.Length; i++)
                {
                    destination[i] = (float)BFloat16.FromBits(bits[i]);
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "expected Float32, Float16 or BFloat16");
        }
    }
}
