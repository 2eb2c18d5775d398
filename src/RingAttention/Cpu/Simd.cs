using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RingAttention.Cpu;

/// <summary>
/// The handful of fp32 vector operations the CPU kernel needs, as static abstract members so one generic kernel
/// compiles to Vector512, Vector256 or Vector128 code (the JIT specialises each struct instantiation, so there is
/// no call overhead). <see cref="SimdTier"/> picks the widest tier the machine accelerates.
/// </summary>
internal interface ISimd<TSelf> where TSelf : struct, ISimd<TSelf>
{
    static abstract int Width { get; }
    static abstract TSelf Zero { get; }
    static abstract TSelf Broadcast(float value);
    static abstract TSelf Load(ref float source);
    static abstract void Store(TSelf value, ref float destination);
    static abstract TSelf MultiplyAdd(TSelf a, TSelf b, TSelf addend);
    static abstract TSelf Multiply(TSelf a, TSelf b);
    static abstract TSelf Add(TSelf a, TSelf b);
    static abstract TSelf Subtract(TSelf a, TSelf b);
    static abstract TSelf Max(TSelf a, TSelf b);
    static abstract float MaxAcross(TSelf value);
    static abstract float SumAcross(TSelf value);

    static abstract TSelf Min(TSelf a, TSelf b);
    static abstract TSelf Round(TSelf value);

    /// <summary><paramref name="mantissa"/> · 2^<paramref name="wholeExponent"/> for whole exponents in [−126, 127].</summary>
    static abstract TSelf ScaleByPowerOfTwo(TSelf mantissa, TSelf wholeExponent);

    /// <summary><paramref name="value"/> where <paramref name="x"/> ≥ <paramref name="threshold"/>, else 0.</summary>
    static abstract TSelf ZeroWhereBelow(TSelf value, TSelf x, float threshold);
}

/// <summary>Vector math written once for every tier.</summary>
internal static class SimdMath
{
    // 2^f = e^(f ln 2) for f in [−½, ½]: Taylor to degree 7, truncation error below 6e-9 (a tenth of an fp32 ulp).
    private const float C1 = 0.693147180559945f;
    private const float C2 = 0.240226506959101f;
    private const float C3 = 0.0555041086648216f;
    private const float C4 = 0.00961812910762848f;
    private const float C5 = 0.00133335581464284f;
    private const float C6 = 0.000154035303933816f;
    private const float C7 = 1.52527338040598e-05f;
    private const float Lowest = -126f;
    private const float Highest = 127f;

    /// <summary>2^x to about 1 ulp for x in [−126, 127]; exactly 0 below −126, so −inf (a masked score) gives 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Exp2<T>(T x) where T : struct, ISimd<T>
    {
        var clamped = T.Min(T.Max(x, T.Broadcast(Lowest)), T.Broadcast(Highest));
        var whole = T.Round(clamped);
        var f = T.Subtract(clamped, whole);
        var p = T.MultiplyAdd(T.Broadcast(C7), f, T.Broadcast(C6));
        p = T.MultiplyAdd(p, f, T.Broadcast(C5));
        p = T.MultiplyAdd(p, f, T.Broadcast(C4));
        p = T.MultiplyAdd(p, f, T.Broadcast(C3));
        p = T.MultiplyAdd(p, f, T.Broadcast(C2));
        p = T.MultiplyAdd(p, f, T.Broadcast(C1));
        p = T.MultiplyAdd(p, f, T.Broadcast(1f));
        return T.ZeroWhereBelow(T.ScaleByPowerOfTwo(p, whole), x, Lowest);
    }
}

internal readonly struct Simd512 : ISimd<Simd512>
{
    private readonly Vector512<float> _v;
    private Simd512(Vector512<float> v) => _v = v;
    public static int Width => Vector512<float>.Count;
    public static Simd512 Zero => new(Vector512<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Broadcast(float value) => new(Vector512.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Load(ref float source) => new(Vector512.LoadUnsafe(ref source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Simd512 value, ref float destination) => value._v.StoreUnsafe(ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 MultiplyAdd(Simd512 a, Simd512 b, Simd512 addend) => new(Vector512.FusedMultiplyAdd(a._v, b._v, addend._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Multiply(Simd512 a, Simd512 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Add(Simd512 a, Simd512 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Subtract(Simd512 a, Simd512 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Max(Simd512 a, Simd512 b) => new(Vector512.Max(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Min(Simd512 a, Simd512 b) => new(Vector512.Min(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Round(Simd512 value) => new(Vector512.Round(value._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 ScaleByPowerOfTwo(Simd512 mantissa, Simd512 wholeExponent) =>
        new(mantissa._v * Vector512.ShiftLeft(Vector512.ConvertToInt32(wholeExponent._v) + Vector512.Create(127), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 ZeroWhereBelow(Simd512 value, Simd512 x, float threshold) =>
        new(Vector512.ConditionalSelect(Vector512.LessThan(x._v, Vector512.Create(threshold)), Vector512<float>.Zero, value._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Simd512 value) => Simd256.MaxAcross(Simd256.From(Vector256.Max(value._v.GetLower(), value._v.GetUpper())));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float SumAcross(Simd512 value) => Vector512.Sum(value._v);

}

internal readonly struct Simd256 : ISimd<Simd256>
{
    private readonly Vector256<float> _v;
    private Simd256(Vector256<float> v) => _v = v;
    internal static Simd256 From(Vector256<float> v) => new(v);
    public static int Width => Vector256<float>.Count;
    public static Simd256 Zero => new(Vector256<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Broadcast(float value) => new(Vector256.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Load(ref float source) => new(Vector256.LoadUnsafe(ref source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Simd256 value, ref float destination) => value._v.StoreUnsafe(ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 MultiplyAdd(Simd256 a, Simd256 b, Simd256 addend) => new(Vector256.FusedMultiplyAdd(a._v, b._v, addend._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Multiply(Simd256 a, Simd256 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Add(Simd256 a, Simd256 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Subtract(Simd256 a, Simd256 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Max(Simd256 a, Simd256 b) => new(Vector256.Max(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Min(Simd256 a, Simd256 b) => new(Vector256.Min(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Round(Simd256 value) => new(Vector256.Round(value._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 ScaleByPowerOfTwo(Simd256 mantissa, Simd256 wholeExponent) =>
        new(mantissa._v * Vector256.ShiftLeft(Vector256.ConvertToInt32(wholeExponent._v) + Vector256.Create(127), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 ZeroWhereBelow(Simd256 value, Simd256 x, float threshold) =>
        new(Vector256.ConditionalSelect(Vector256.LessThan(x._v, Vector256.Create(threshold)), Vector256<float>.Zero, value._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Simd256 value) => Simd128.MaxAcross(Simd128.From(Vector128.Max(value._v.GetLower(), value._v.GetUpper())));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float SumAcross(Simd256 value) => Vector256.Sum(value._v);

}

internal readonly struct Simd128 : ISimd<Simd128>
{
    private readonly Vector128<float> _v;
    private Simd128(Vector128<float> v) => _v = v;
    internal static Simd128 From(Vector128<float> v) => new(v);
    public static int Width => Vector128<float>.Count;
    public static Simd128 Zero => new(Vector128<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Broadcast(float value) => new(Vector128.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Load(ref float source) => new(Vector128.LoadUnsafe(ref source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Simd128 value, ref float destination) => value._v.StoreUnsafe(ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 MultiplyAdd(Simd128 a, Simd128 b, Simd128 addend) => new(Vector128.FusedMultiplyAdd(a._v, b._v, addend._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Multiply(Simd128 a, Simd128 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Add(Simd128 a, Simd128 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Subtract(Simd128 a, Simd128 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Max(Simd128 a, Simd128 b) => new(Vector128.Max(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Min(Simd128 a, Simd128 b) => new(Vector128.Min(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Round(Simd128 value) => new(Vector128.Round(value._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 ScaleByPowerOfTwo(Simd128 mantissa, Simd128 wholeExponent) =>
        new(mantissa._v * Vector128.ShiftLeft(Vector128.ConvertToInt32(wholeExponent._v) + Vector128.Create(127), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 ZeroWhereBelow(Simd128 value, Simd128 x, float threshold) =>
        new(Vector128.ConditionalSelect(Vector128.LessThan(x._v, Vector128.Create(threshold)), Vector128<float>.Zero, value._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Simd128 value) =>
        MathF.Max(MathF.Max(value._v.GetElement(0), value._v.GetElement(1)), MathF.Max(value._v.GetElement(2), value._v.GetElement(3)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float SumAcross(Simd128 value) => Vector128.Sum(value._v);

}

/// <summary>Which vector width the CPU kernel uses.</summary>
public enum SimdTier
{
    /// <summary>512-bit vectors (AVX-512).</summary>
    Vector512 = 512,
    /// <summary>256-bit vectors (AVX2/FMA).</summary>
    Vector256 = 256,
    /// <summary>128-bit vectors (SSE/NEON).</summary>
    Vector128 = 128,
}

/// <summary>Detection of the widest accelerated tier.</summary>
public static class SimdTiers
{
    /// <summary>The widest tier the hardware accelerates; Vector128 is the floor (software-emulated where absent).</summary>
    public static SimdTier Best =>
        Vector512.IsHardwareAccelerated ? SimdTier.Vector512
        : Vector256.IsHardwareAccelerated ? SimdTier.Vector256
        : SimdTier.Vector128;

    /// <summary>Whether <paramref name="tier"/> is usable here (accelerated, or Vector128 which always works).</summary>
    public static bool IsSupported(SimdTier tier) => tier switch
    {
        SimdTier.Vector512 => Vector512.IsHardwareAccelerated,
        SimdTier.Vector256 => Vector256.IsHardwareAccelerated,
        _ => true,
    };
}
