using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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

    /// <summary>The floats whose bits are those of <paramref name="value"/> shifted left by 23 (the width of the mantissa field).</summary>
    static abstract TSelf ShiftIntoExponent(TSelf value);

    /// <summary><paramref name="value"/> where <paramref name="x"/> ≥ <paramref name="threshold"/>, else 0.</summary>
    static abstract TSelf ZeroWhereBelow(TSelf value, TSelf x, float threshold);

    /// <summary>2^x to fp32 rounding for x ≤ 127 (see <see cref="SimdMath"/>); −inf and anything below −150 give exactly 0.</summary>
    static abstract TSelf Exp2(TSelf x);
}

/// <summary>
/// Vector math written once for every tier. 2^x = 2^n · 2^f with n = round(x) and f in [−½, ½]; 2^f = 1 + f·q(f)
/// with q of degree 5 fitted for relative error 2e-9 (a thirtieth of an fp32 ulp), so the result is within about
/// one ulp, and integers give exact powers of two. The scaling by 2^n is AVX-512's scalef where available (it
/// rounds results below 2^−126 to the nearest denormal and underflows to 0 below −150) and an exponent-field
/// product elsewhere (0 below −126.5, at most 2^−126 between): a softmax weight that small is 0 to fp32 working precision.
/// </summary>
internal static class SimdMath
{
    public const float C1 = 6.931471825e-01f;
    public const float C2 = 2.402264774e-01f;
    public const float C3 = 5.550332740e-02f;
    public const float C4 = 9.618436918e-03f;
    public const float C5 = 1.339882147e-03f;
    public const float C6 = 1.535324263e-04f;

    /// <summary>Below this every tier returns 0 (2^−150 rounds to 0); −inf is clamped to it first, so it never makes NaN.</summary>
    public const float Underflow = -150f;

    /// <summary>
    /// The portable version clamps here: n = −127 has the biased exponent 0, so 2^n's bits are those of +0 and the
    /// product is exactly 0 without a compare and a select (−inf and anything below −126.5 round to it).
    /// </summary>
    private const float LowestExponent = -127f;
    private const float Highest = 127f;

    /// <summary>2^f for f in [−½, ½] by Horner's rule on FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Exp2Reduced<T>(T f) where T : struct, ISimd<T>
    {
        var p = T.MultiplyAdd(T.Broadcast(C6), f, T.Broadcast(C5));
        p = T.MultiplyAdd(p, f, T.Broadcast(C4));
        p = T.MultiplyAdd(p, f, T.Broadcast(C3));
        p = T.MultiplyAdd(p, f, T.Broadcast(C2));
        p = T.MultiplyAdd(p, f, T.Broadcast(C1));
        return T.MultiplyAdd(p, f, T.Broadcast(1f));
    }

    /// <summary>
    /// 1.5·2^23 + 127: adding it to a float in [−127, 127] rounds it to an integer n (the sum's ulp is 1) and leaves
    /// n + 127, the biased exponent of 2^n, in the low mantissa bits; subtracting it again gives n exactly. One add
    /// replaces a round and a float-to-integer conversion (which saturates, at four extra instructions, below AVX-512).
    /// </summary>
    private const float RoundingShift = 12582912f + 127f;

    /// <summary>The exponent-field version for tiers without scalef: exact 0 below −126.5, ~1 ulp from −126 up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Exp2Portable<T>(T x) where T : struct, ISimd<T>
    {
        // Operand order matters: MaxNative/MinNative return their second operand when either is NaN (x86), so x goes
        // second and a NaN score stays NaN (PyTorch propagates NaN; clamping it to a finite exponent would hide it).
        var clamped = T.Min(T.Broadcast(Highest), T.Max(T.Broadcast(LowestExponent), x));
        var shifted = T.Add(clamped, T.Broadcast(RoundingShift));
        var whole = T.Subtract(shifted, T.Broadcast(RoundingShift));
        var p = Exp2Reduced(T.Subtract(clamped, whole));
        // The shift drops the 1.5·2^23 and moves n + 127 into the exponent field: the float 2^n (+0 for n = −127).
        return T.Multiply(p, T.ShiftIntoExponent(shifted));
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Max(Simd512 a, Simd512 b) => new(Vector512.MaxNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Min(Simd512 a, Simd512 b) => new(Vector512.MinNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 ShiftIntoExponent(Simd512 value) => new(Vector512.ShiftLeft(value._v.AsInt32(), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 ZeroWhereBelow(Simd512 value, Simd512 x, float threshold) =>
        new(Vector512.ConditionalSelect(Vector512.LessThan(x._v, Vector512.Create(threshold)), Vector512<float>.Zero, value._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Simd512 value) => Simd256.MaxAcross(Simd256.From(Vector256.MaxNative(value._v.GetLower(), value._v.GetUpper())));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float SumAcross(Simd512 value) => Simd256.SumAcross(Simd256.From(value._v.GetLower() + value._v.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Exp2(Simd512 x)
    {
        if (!Avx512F.IsSupported)
        {
            return SimdMath.Exp2Portable(x);
        }
        // Clamping first turns −inf into a finite exponent that scalef underflows to exactly 0. x goes second: vmaxps
        // returns its second operand when either is NaN, so a NaN score stays NaN instead of becoming 0.
        var clamped = Vector512.MaxNative(Vector512.Create(SimdMath.Underflow), x._v);
        var whole = Avx512F.RoundScale(clamped, 0);
        var p = SimdMath.Exp2Reduced(new Simd512(clamped - whole));
        return new(Avx512F.Scale(p._v, whole));
    }
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Max(Simd256 a, Simd256 b) => new(Vector256.MaxNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Min(Simd256 a, Simd256 b) => new(Vector256.MinNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 ShiftIntoExponent(Simd256 value) => new(Vector256.ShiftLeft(value._v.AsInt32(), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 ZeroWhereBelow(Simd256 value, Simd256 x, float threshold) =>
        new(Vector256.ConditionalSelect(Vector256.LessThan(x._v, Vector256.Create(threshold)), Vector256<float>.Zero, value._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Simd256 value) => Simd128.MaxAcross(Simd128.From(Vector128.MaxNative(value._v.GetLower(), value._v.GetUpper())));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float SumAcross(Simd256 value) => Simd128.SumAcross(Simd128.From(value._v.GetLower() + value._v.GetUpper()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Exp2(Simd256 x) => SimdMath.Exp2Portable(x);

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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Max(Simd128 a, Simd128 b) => new(Vector128.MaxNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Min(Simd128 a, Simd128 b) => new(Vector128.MinNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 ShiftIntoExponent(Simd128 value) => new(Vector128.ShiftLeft(value._v.AsInt32(), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 ZeroWhereBelow(Simd128 value, Simd128 x, float threshold) =>
        new(Vector128.ConditionalSelect(Vector128.LessThan(x._v, Vector128.Create(threshold)), Vector128<float>.Zero, value._v));

    // Across lanes by two swaps (halves, then neighbours); MaxNative/+ keep each step a single instruction.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Simd128 value)
    {
        var v = Vector128.MaxNative(value._v, Vector128.Shuffle(value._v, Vector128.Create(2, 3, 0, 1)));
        return Vector128.MaxNative(v, Vector128.Shuffle(v, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Simd128 value)
    {
        var v = value._v + Vector128.Shuffle(value._v, Vector128.Create(2, 3, 0, 1));
        return (v + Vector128.Shuffle(v, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd128 Exp2(Simd128 x) => SimdMath.Exp2Portable(x);

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
