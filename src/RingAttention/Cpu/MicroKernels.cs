using System.Runtime.CompilerServices;

namespace RingAttention.Cpu;

/// <summary>
/// The shape of a register block: Rows × Vectors accumulators, sized so that they, the Vectors B vectors of a k
/// step and one broadcast all stay in the vector registers (a spilled accumulator puts a store-to-load round trip
/// into its FMA chain every k step, which on AVX2 cost two thirds of the speed).
/// </summary>
internal interface IRowBlock
{
    static abstract int Rows { get; }

    /// <summary>Vectors of columns per block: 4 or 2.</summary>
    static abstract int Vectors { get; }
}

/// <summary>6 rows × 4 vectors: 24 accumulators + 4 B vectors + 1 broadcast fit AVX-512's 32 registers.</summary>
internal readonly struct SixRows : IRowBlock
{
    public static int Rows => 6;
    public static int Vectors => 4;
}

/// <summary>
/// 6 rows × 2 vectors: 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 registers of AVX2 and SSE (BLIS's
/// Haswell shape); 8 loads per 12 FMAs, within two loads a cycle.
/// </summary>
internal readonly struct SixRowsTwoVectors : IRowBlock
{
    public static int Rows => 6;
    public static int Vectors => 2;
}

/// <summary>What a register block starts from: zero (C = A·B) or the existing C rescaled per row (C = C·s + A·B).</summary>
internal interface IBlockStart
{
    static abstract bool Rescales { get; }
}

/// <summary>C = A·B (the score tile).</summary>
internal readonly struct FromZero : IBlockStart
{
    public static bool Rescales => false;
}

/// <summary>C = C·rowScale + A·B (the output accumulator after the online-softmax rescale).</summary>
internal readonly struct FromRescaled : IBlockStart
{
    public static bool Rescales => true;
}

/// <summary>
/// The register-blocked GEMM both halves of the block kernel run: S = Q·Kᵀ and acc = acc·α + P·V. A is row-major
/// (each of its values is broadcast), B is row-major in panels of whole vectors, C is row-major. One register
/// block is TRows.Rows rows × TRows.Vectors vectors, its k loop holding every accumulator in a register
/// (enough independent FMA chains to keep both FMA pipes busy across the FMA latency); a last 1-vector block
/// covers the columns past the last multiple of the block's vectors.
/// </summary>
internal static unsafe class MicroKernels
{
    /// <summary>
    /// C[rows][n] (= C·rowScale when rescaling) += A[rows][k]·B[k][n]. rows is a multiple of the row block, n of the
    /// vector width. Column blocks are the outer loop so that B's panel of a block's vectors stays in L1 across all rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemm<TV, TRows, TStart>(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int rows, int k, int n, float* rowScale)
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock
        where TStart : struct, IBlockStart
    {
        int w = TV.Width;
        int column = 0;
        for (; TRows.Vectors == 2 && column + 2 * w <= n; column += 2 * w)
        {
            for (int r = 0; r < rows; r += TRows.Rows)
            {
                Block2<TV, TRows, TStart>(a + r * lda, lda, b + column, ldb, c + r * ldc + column, ldc, k, rowScale + r);
            }
        }
        for (; TRows.Vectors == 4 && column + 4 * w <= n; column += 4 * w)
        {
            for (int r = 0; r < rows; r += TRows.Rows)
            {
                Block4<TV, TRows, TStart>(a + r * lda, lda, b + column, ldb, c + r * ldc + column, ldc, k, rowScale + r);
            }
        }
        for (; column < n; column += w)
        {
            for (int r = 0; r < rows; r += TRows.Rows)
            {
                Block1<TV, TRows, TStart>(a + r * lda, lda, b + column, ldb, c + r * ldc + column, ldc, k, rowScale + r);
            }
        }
    }

    /// <summary>
    /// As <see cref="Gemm"/>, with B in blocked column panels (see <see cref="Panels"/>): the columns
    /// [j·width, (j + 1)·width) of B, width = TRows.Vectors vectors, are a contiguous [k][width] panel starting at
    /// b + j·<paramref name="panelStride"/>. n is a multiple of the panel width, so no tail block is needed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GemmPanels<TV, TRows, TStart>(float* a, nint lda, float* b, nint panelStride, float* c, nint ldc, int rows, int k, int n, float* rowScale)
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock
        where TStart : struct, IBlockStart
    {
        int width = TRows.Vectors * TV.Width;
        for (int column = 0; column < n; column += width, b += panelStride)
        {
            for (int r = 0; r < rows; r += TRows.Rows)
            {
                if (TRows.Vectors == 2)
                {
                    Block2<TV, TRows, TStart>(a + r * lda, lda, b, width, c + r * ldc + column, ldc, k, rowScale + r);
                }
                else
                {
                    Block4<TV, TRows, TStart>(a + r * lda, lda, b, width, c + r * ldc + column, ldc, k, rowScale + r);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Start<TV, TStart>(float* c, float* rowScale)
        where TV : struct, ISimd<TV>
        where TStart : struct, IBlockStart =>
        TStart.Rescales ? TV.Multiply(TV.Load(ref *c), TV.Broadcast(*rowScale)) : TV.Zero;

    /// <summary>One register block of TRows × 4 vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4<TV, TRows, TStart>(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int k, float* rowScale)
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock
        where TStart : struct, IBlockStart
    {
        nint w = TV.Width;
        float* c0 = c, c1 = c + ldc, c2 = c + 2 * ldc, c3 = c + 3 * ldc, c4 = c + 4 * ldc, c5 = c + 5 * ldc;
        TV c00 = Start<TV, TStart>(c0, rowScale), c01 = Start<TV, TStart>(c0 + w, rowScale);
        TV c02 = Start<TV, TStart>(c0 + 2 * w, rowScale), c03 = Start<TV, TStart>(c0 + 3 * w, rowScale);
        TV c10 = Start<TV, TStart>(c1, rowScale + 1), c11 = Start<TV, TStart>(c1 + w, rowScale + 1);
        TV c12 = Start<TV, TStart>(c1 + 2 * w, rowScale + 1), c13 = Start<TV, TStart>(c1 + 3 * w, rowScale + 1);
        TV c20 = Start<TV, TStart>(c2, rowScale + 2), c21 = Start<TV, TStart>(c2 + w, rowScale + 2);
        TV c22 = Start<TV, TStart>(c2 + 2 * w, rowScale + 2), c23 = Start<TV, TStart>(c2 + 3 * w, rowScale + 2);
        TV c30 = Start<TV, TStart>(c3, rowScale + 3), c31 = Start<TV, TStart>(c3 + w, rowScale + 3);
        TV c32 = Start<TV, TStart>(c3 + 2 * w, rowScale + 3), c33 = Start<TV, TStart>(c3 + 3 * w, rowScale + 3);
        TV c40 = Start<TV, TStart>(c4, rowScale + 4), c41 = Start<TV, TStart>(c4 + w, rowScale + 4);
        TV c42 = Start<TV, TStart>(c4 + 2 * w, rowScale + 4), c43 = Start<TV, TStart>(c4 + 3 * w, rowScale + 4);
        TV c50 = Start<TV, TStart>(c5, rowScale + 5), c51 = Start<TV, TStart>(c5 + w, rowScale + 5);
        TV c52 = Start<TV, TStart>(c5 + 2 * w, rowScale + 5), c53 = Start<TV, TStart>(c5 + 3 * w, rowScale + 5);
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda;
        for (nint kk = 0; kk < k; kk++)
        {
            TV b0 = TV.Load(ref *b), b1 = TV.Load(ref *(b + w)), b2 = TV.Load(ref *(b + 2 * w)), b3 = TV.Load(ref *(b + 3 * w));
            b += ldb;
            TV x = TV.Broadcast(a0[kk]);
            c00 = TV.MultiplyAdd(x, b0, c00); c01 = TV.MultiplyAdd(x, b1, c01); c02 = TV.MultiplyAdd(x, b2, c02); c03 = TV.MultiplyAdd(x, b3, c03);
            x = TV.Broadcast(a1[kk]);
            c10 = TV.MultiplyAdd(x, b0, c10); c11 = TV.MultiplyAdd(x, b1, c11); c12 = TV.MultiplyAdd(x, b2, c12); c13 = TV.MultiplyAdd(x, b3, c13);
            x = TV.Broadcast(a2[kk]);
            c20 = TV.MultiplyAdd(x, b0, c20); c21 = TV.MultiplyAdd(x, b1, c21); c22 = TV.MultiplyAdd(x, b2, c22); c23 = TV.MultiplyAdd(x, b3, c23);
            x = TV.Broadcast(a3[kk]);
            c30 = TV.MultiplyAdd(x, b0, c30); c31 = TV.MultiplyAdd(x, b1, c31); c32 = TV.MultiplyAdd(x, b2, c32); c33 = TV.MultiplyAdd(x, b3, c33);
            x = TV.Broadcast(a4[kk]);
            c40 = TV.MultiplyAdd(x, b0, c40); c41 = TV.MultiplyAdd(x, b1, c41); c42 = TV.MultiplyAdd(x, b2, c42); c43 = TV.MultiplyAdd(x, b3, c43);
            x = TV.Broadcast(a5[kk]);
            c50 = TV.MultiplyAdd(x, b0, c50); c51 = TV.MultiplyAdd(x, b1, c51); c52 = TV.MultiplyAdd(x, b2, c52); c53 = TV.MultiplyAdd(x, b3, c53);
        }
        TV.Store(c00, ref *c0); TV.Store(c01, ref *(c0 + w)); TV.Store(c02, ref *(c0 + 2 * w)); TV.Store(c03, ref *(c0 + 3 * w));
        TV.Store(c10, ref *c1); TV.Store(c11, ref *(c1 + w)); TV.Store(c12, ref *(c1 + 2 * w)); TV.Store(c13, ref *(c1 + 3 * w));
        TV.Store(c20, ref *c2); TV.Store(c21, ref *(c2 + w)); TV.Store(c22, ref *(c2 + 2 * w)); TV.Store(c23, ref *(c2 + 3 * w));
        TV.Store(c30, ref *c3); TV.Store(c31, ref *(c3 + w)); TV.Store(c32, ref *(c3 + 2 * w)); TV.Store(c33, ref *(c3 + 3 * w));
        TV.Store(c40, ref *c4); TV.Store(c41, ref *(c4 + w)); TV.Store(c42, ref *(c4 + 2 * w)); TV.Store(c43, ref *(c4 + 3 * w));
        TV.Store(c50, ref *c5); TV.Store(c51, ref *(c5 + w)); TV.Store(c52, ref *(c5 + 2 * w)); TV.Store(c53, ref *(c5 + 3 * w));
    }

    /// <summary>One register block of 6 rows × 2 vectors (TRows is <see cref="SixRowsTwoVectors"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block2<TV, TRows, TStart>(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int k, float* rowScale)
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock
        where TStart : struct, IBlockStart
    {
        nint w = TV.Width;
        float* c0 = c, c1 = c + ldc, c2 = c + 2 * ldc, c3 = c + 3 * ldc, c4 = c + 4 * ldc, c5 = c + 5 * ldc;
        TV c00 = Start<TV, TStart>(c0, rowScale), c01 = Start<TV, TStart>(c0 + w, rowScale);
        TV c10 = Start<TV, TStart>(c1, rowScale + 1), c11 = Start<TV, TStart>(c1 + w, rowScale + 1);
        TV c20 = Start<TV, TStart>(c2, rowScale + 2), c21 = Start<TV, TStart>(c2 + w, rowScale + 2);
        TV c30 = Start<TV, TStart>(c3, rowScale + 3), c31 = Start<TV, TStart>(c3 + w, rowScale + 3);
        TV c40 = Start<TV, TStart>(c4, rowScale + 4), c41 = Start<TV, TStart>(c4 + w, rowScale + 4);
        TV c50 = Start<TV, TStart>(c5, rowScale + 5), c51 = Start<TV, TStart>(c5 + w, rowScale + 5);
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda;
        for (nint kk = 0; kk < k; kk++)
        {
            TV b0 = TV.Load(ref *b), b1 = TV.Load(ref *(b + w));
            b += ldb;
            TV x = TV.Broadcast(a0[kk]);
            c00 = TV.MultiplyAdd(x, b0, c00); c01 = TV.MultiplyAdd(x, b1, c01);
            x = TV.Broadcast(a1[kk]);
            c10 = TV.MultiplyAdd(x, b0, c10); c11 = TV.MultiplyAdd(x, b1, c11);
            x = TV.Broadcast(a2[kk]);
            c20 = TV.MultiplyAdd(x, b0, c20); c21 = TV.MultiplyAdd(x, b1, c21);
            x = TV.Broadcast(a3[kk]);
            c30 = TV.MultiplyAdd(x, b0, c30); c31 = TV.MultiplyAdd(x, b1, c31);
            x = TV.Broadcast(a4[kk]);
            c40 = TV.MultiplyAdd(x, b0, c40); c41 = TV.MultiplyAdd(x, b1, c41);
            x = TV.Broadcast(a5[kk]);
            c50 = TV.MultiplyAdd(x, b0, c50); c51 = TV.MultiplyAdd(x, b1, c51);
        }
        TV.Store(c00, ref *c0); TV.Store(c01, ref *(c0 + w));
        TV.Store(c10, ref *c1); TV.Store(c11, ref *(c1 + w));
        TV.Store(c20, ref *c2); TV.Store(c21, ref *(c2 + w));
        TV.Store(c30, ref *c3); TV.Store(c31, ref *(c3 + w));
        TV.Store(c40, ref *c4); TV.Store(c41, ref *(c4 + w));
        TV.Store(c50, ref *c5); TV.Store(c51, ref *(c5 + w));
    }

    /// <summary>One register block of TRows × 1 vector, for the columns past the last multiple of 4 vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block1<TV, TRows, TStart>(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int k, float* rowScale)
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock
        where TStart : struct, IBlockStart
    {
        TV c0 = Start<TV, TStart>(c, rowScale), c1 = Start<TV, TStart>(c + ldc, rowScale + 1), c2 = Start<TV, TStart>(c + 2 * ldc, rowScale + 2);
        TV c3 = Start<TV, TStart>(c + 3 * ldc, rowScale + 3), c4 = Start<TV, TStart>(c + 4 * ldc, rowScale + 4), c5 = Start<TV, TStart>(c + 5 * ldc, rowScale + 5);
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda;
        for (nint kk = 0; kk < k; kk++)
        {
            TV bk = TV.Load(ref *b);
            b += ldb;
            c0 = TV.MultiplyAdd(TV.Broadcast(a0[kk]), bk, c0);
            c1 = TV.MultiplyAdd(TV.Broadcast(a1[kk]), bk, c1);
            c2 = TV.MultiplyAdd(TV.Broadcast(a2[kk]), bk, c2);
            c3 = TV.MultiplyAdd(TV.Broadcast(a3[kk]), bk, c3);
            c4 = TV.MultiplyAdd(TV.Broadcast(a4[kk]), bk, c4);
            c5 = TV.MultiplyAdd(TV.Broadcast(a5[kk]), bk, c5);
        }
        TV.Store(c0, ref *c);
        TV.Store(c1, ref *(c + ldc));
        TV.Store(c2, ref *(c + 2 * ldc));
        TV.Store(c3, ref *(c + 3 * ldc));
        TV.Store(c4, ref *(c + 4 * ldc));
        TV.Store(c5, ref *(c + 5 * ldc));
    }
}
