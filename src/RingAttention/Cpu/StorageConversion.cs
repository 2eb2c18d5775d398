using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RingAttention.Cpu;

/// <summary>Widening of stored elements to fp32 and narrowing back (round to nearest even).</summary>
internal static unsafe class StorageConversion
{
    /// <summary>Reads <c>destination.Length</c> elements of <paramref name="type"/> at <paramref name="source"/> as fp32.</summary>
    public static void Widen(ElementType type, void* source, Span<float> destination)
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
                WidenBFloat16(new ReadOnlySpan<ushort>(source, destination.Length), destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "expected Float32, Float16 or BFloat16");
        }
    }

    /// <summary>Writes fp32 values as <paramref name="type"/> at <paramref name="destination"/>.</summary>
    public static void Narrow(ReadOnlySpan<float> source, ElementType type, void* destination)
    {
        switch (type)
        {
            case ElementType.Float32:
                source.CopyTo(new Span<float>(destination, source.Length));
                break;
            case ElementType.Float16:
                TensorPrimitives.ConvertToHalf(source, new Span<Half>(destination, source.Length));
                break;
            case ElementType.BFloat16:
                var target = new Span<BFloat16>(destination, source.Length);
                for (int i = 0; i < source.Length; i++)
                {
                    target[i] = (BFloat16)source[i];
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "expected Float32, Float16 or BFloat16");
        }
    }

    private static void WidenBFloat16(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        // bf16 is the top half of an fp32: widening is a 16-bit shift of each element.
        var wide = MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= source.Length; i += 16)
            {
                var packed = Vector256.LoadUnsafe(ref Unsafe.AsRef(in source[i]));
                var (lower, upper) = Vector256.Widen(packed);
                (lower << 16).StoreUnsafe(ref wide[i]);
                (upper << 16).StoreUnsafe(ref wide[i + 8]);
            }
        }
        for (; i < source.Length; i++)
        {
            wide[i] = (uint)source[i] << 16;
        }
    }
}
