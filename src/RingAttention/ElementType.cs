namespace RingAttention;

/// <summary>Storage type of Q, K, V and O. Compute and accumulation are always fp32.</summary>
public enum ElementType
{
    /// <summary>IEEE 754 binary32.</summary>
    Float32 = 0,
    /// <summary>IEEE 754 binary16 (<see cref="Half"/>).</summary>
    Float16 = 1,
    /// <summary>bfloat16: the upper 16 bits of a binary32 (<see cref="RingAttention.BFloat16"/>).</summary>
    BFloat16 = 2,
}

/// <summary>Facts about <see cref="ElementType"/> values.</summary>
public static class ElementTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(ElementType type) => type switch
    {
        ElementType.Float32 => 4,
        ElementType.Float16 or ElementType.BFloat16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "expected Float32, Float16 or BFloat16"),
    };

    /// <summary>The element type that stores <typeparamref name="T"/>.</summary>
    public static ElementType Of<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? ElementType.Float32
        : typeof(T) == typeof(Half) ? ElementType.Float16
        : typeof(T) == typeof(BFloat16) ? ElementType.BFloat16
        : throw new NotSupportedException($"element type {typeof(T).Name} is not supported: expected float, Half or BFloat16");

    /// <summary>Short lower-case name used on the command line and in reports (fp32, fp16, bf16).</summary>
    public static string ShortName(ElementType type) => type switch
    {
        ElementType.Float32 => "fp32",
        ElementType.Float16 => "fp16",
        ElementType.BFloat16 => "bf16",
        _ => type.ToString(),
    };
}
