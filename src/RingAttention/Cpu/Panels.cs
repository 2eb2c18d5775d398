using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RingAttention.Cpu;

/// <summary>
/// K and V packed once per block into the fp32 panels the micro-kernels stream, in one of two layouts. Row-major
/// (the AVX-512 tier): for each tile of <see cref="CpuFlashKernel.BlockN"/> keys, Kᵀ as [headDim][BlockN] (a row
/// of the panel is one dimension of consecutive keys, whole vectors of them) and V as [BlockN][paddedHeadDim].
/// Blocked (the narrower tiers): each tile cut into column panels as wide as one register block, each contiguous —
/// Kᵀ as [BlockN / width][headDim][width], V as [paddedHeadDim / width][BlockN][width] — so a register block
/// streams one unbroken run of memory per k step instead of a line every row stride (with a stride of a power of two
/// kilobytes those lines all fall into a few cache sets of a 32K L1 and evict each other). Keys past the end and
/// columns past the head dimension are zero, so the micro-kernels never need a tail. With AVX-512, Kᵀ is written
/// by 16×16 in-register transposes; 16-bit storage is first widened into a small staging block.
/// </summary>
internal static unsafe class Panels
{
    /// <summary>Rows and columns of one in-register transpose.</summary>
    private const int Square = 16;

    /// <summary>
    /// Packs keys [firstKey, firstKey + BlockN) of one (batch, KV head): <paramref name="key"/> and
    /// <paramref name="value"/> point at the block's row 0 of that head, rows the given strides (in elements) apart.
    /// A null <paramref name="valuePanel"/> packs Kᵀ only.
    /// </summary>
    public static void PackTile(ElementType type, byte* key, long keyRowStride, byte* value, long valueRowStride, int keys, int headDim,
        int paddedHeadDim, int firstKey, float* keyPanel, float* valuePanel, float* staging)
    {
        const int blockN = CpuFlashKernel.BlockN;
        int elementSize = ElementTypes.SizeOf(type);
        int count = Math.Clamp(keys - firstKey, 0, blockN);
        for (int c = 0; c < blockN && valuePanel != null; c++)
        {
            var valueRow = new Span<float>(valuePanel + (long)c * paddedHeadDim, paddedHeadDim);
            if (c < count)
            {
                StorageConversion.Widen(type, value + (firstKey + c) * valueRowStride * elementSize, valueRow[..headDim]);
                valueRow[headDim..].Clear();
            }
            else
            {
                valueRow.Clear();
            }
        }

        for (int group = 0; group < blockN; group += Square)
        {
            int groupKeys = Math.Clamp(count - group, 0, Square);
            float* destination = keyPanel + group;
            if (groupKeys == 0)
            {
                for (int d = 0; d < headDim; d++)
                {
                    new Span<float>(destination + (long)d * blockN, Square).Clear();
                }
                continue;
            }
            // Source rows for this group: fp32 in place, anything else widened into the staging block first.
            float* rows;
            long stride;
            if (type == ElementType.Float32 && groupKeys == Square)
            {
                rows = (float*)key + (firstKey + group) * keyRowStride;
                stride = keyRowStride;
            }
            else
            {
                rows = staging;
                stride = headDim;
                for (int r = 0; r < Square; r++)
                {
                    var row = new Span<float>(staging + (long)r * headDim, headDim);
                    if (r < groupKeys)
                    {
                        StorageConversion.Widen(type, key + (firstKey + group + r) * keyRowStride * elementSize, row);
                    }
                    else
                    {
                        row.Clear();
                    }
                }
            }
            int d0 = 0;
            if (Avx512F.IsSupported)
            {
                for (; d0 + Square <= headDim; d0 += Square)
                {
                    Transpose16x16(rows + d0, stride, destination + (long)d0 * blockN, blockN);
                }
            }
            for (int d = d0; d < headDim; d++)
            {
                float* column = destination + (long)d * blockN;
                for (int r = 0; r < Square; r++)
                {
                    column[r] = rows[r * stride + d];
                }
            }
        }
    }

    /// <summary>
    /// Packs keys [firstKey, firstKey + BlockN) like <see cref="PackTile"/>, into blocked column panels of
    /// <paramref name="panelWidth"/> columns (<paramref name="paddedHeadDim"/> a multiple of it, and BlockN too; both
    /// multiples of 4). fp32 rows are read in place, 16-bit rows widened into <paramref name="staging"/> first.
    /// </summary>
    public static void PackTileBlocked(ElementType type, byte* key, long keyRowStride, byte* value, long valueRowStride, int keys, int headDim,
        int paddedHeadDim, int panelWidth, int firstKey, float* keyPanel, float* valuePanel, float* staging)
    {
        const int blockN = CpuFlashKernel.BlockN;
        int elementSize = ElementTypes.SizeOf(type);
        int count = Math.Clamp(keys - firstKey, 0, blockN);
        var row = new Span<float>(staging, paddedHeadDim);
        row[headDim..].Clear();
        for (int c = 0; c < blockN; c++)
        {
            float* keyColumn = keyPanel + (long)(c / panelWidth) * headDim * panelWidth + c % panelWidth;
            float* valueRow = valuePanel + (long)c * panelWidth;
            if (c >= count)
            {
                for (int d = 0; d < headDim; d++)
                {
                    keyColumn[(long)d * panelWidth] = 0f;
                }
                for (int panel = 0; panel < paddedHeadDim; panel += panelWidth)
                {
                    new Span<float>(valueRow + (long)panel * blockN, panelWidth).Clear();
                }
                continue;
            }
            float* source = RowAsFloats(type, key + (firstKey + c) * keyRowStride * elementSize, headDim, staging);
            for (int d = 0; d < headDim; d++)
            {
                keyColumn[(long)d * panelWidth] = source[d];
            }
            // Whole panels come from the row as it lies; the last, when the head dimension ends inside it, from the
            // zero-padded staging row.
            source = RowAsFloats(type, value + (firstKey + c) * valueRowStride * elementSize, headDim, staging);
            int panel0 = 0;
            for (; panel0 + panelWidth <= headDim; panel0 += panelWidth)
            {
                CopyPanelRow(source + panel0, valueRow + (long)panel0 * blockN, panelWidth);
            }
            if (panel0 < paddedHeadDim)
            {
                if (source != staging)
                {
                    new ReadOnlySpan<float>(source + panel0, headDim - panel0).CopyTo(row[panel0..]);
                }
                CopyPanelRow(staging + panel0, valueRow + (long)panel0 * blockN, panelWidth);
            }
        }
    }

    /// <summary>The fp32 row at <paramref name="row"/>: in place for fp32, else widened into <paramref name="staging"/>.</summary>
    private static float* RowAsFloats(ElementType type, byte* row, int headDim, float* staging)
    {
        if (type == ElementType.Float32)
        {
            return (float*)row;
        }
        StorageConversion.Widen(type, row, new Span<float>(staging, headDim));
        return staging;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyPanelRow(float* source, float* destination, int panelWidth)
    {
        for (int i = 0; i < panelWidth; i += Vector128<float>.Count)
        {
            Vector128.Load(source + i).Store(destination + i);
        }
    }

    /// <summary>Floats of staging <see cref="PackTile"/> needs: one transpose's rows at the largest head dimension.</summary>
    public const int StagingFloats = Square * AttentionOptions.MaxHeadDim;

    /// <summary>
    /// Writes the transpose of the 16×16 block at <paramref name="source"/> (rows <paramref name="sourceStride"/>
    /// floats apart) to <paramref name="destination"/> (rows <paramref name="destinationStride"/> apart): interleave
    /// pairs of rows, then pairs of pairs, then gather 128-bit lanes twice.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose16x16(float* source, long sourceStride, float* destination, long destinationStride)
    {
        // After the two interleaving stages, quads[4q + m] holds, in its 128-bit lane L, rows 4q..4q+3 of column 4L + m.
        var quads = stackalloc Vector512<float>[Square];
        for (int q = 0; q < 4; q++)
        {
            float* row = source + 4 * q * sourceStride;
            var r0 = Vector512.Load(row);
            var r1 = Vector512.Load(row + sourceStride);
            var r2 = Vector512.Load(row + 2 * sourceStride);
            var r3 = Vector512.Load(row + 3 * sourceStride);
            var t0 = Avx512F.UnpackLow(r0, r1).AsDouble();
            var t1 = Avx512F.UnpackHigh(r0, r1).AsDouble();
            var t2 = Avx512F.UnpackLow(r2, r3).AsDouble();
            var t3 = Avx512F.UnpackHigh(r2, r3).AsDouble();
            quads[4 * q] = Avx512F.UnpackLow(t0, t2).AsSingle();
            quads[4 * q + 1] = Avx512F.UnpackHigh(t0, t2).AsSingle();
            quads[4 * q + 2] = Avx512F.UnpackLow(t1, t3).AsSingle();
            quads[4 * q + 3] = Avx512F.UnpackHigh(t1, t3).AsSingle();
        }
        // 0x88 takes lanes 0 and 2 of each operand, 0xDD lanes 1 and 3.
        for (int m = 0; m < 4; m++)
        {
            var low01 = Avx512F.Shuffle4x128(quads[m], quads[4 + m], 0x88);
            var high01 = Avx512F.Shuffle4x128(quads[m], quads[4 + m], 0xDD);
            var low23 = Avx512F.Shuffle4x128(quads[8 + m], quads[12 + m], 0x88);
            var high23 = Avx512F.Shuffle4x128(quads[8 + m], quads[12 + m], 0xDD);
            Avx512F.Shuffle4x128(low01, low23, 0x88).Store(destination + m * destinationStride);
            Avx512F.Shuffle4x128(low01, low23, 0xDD).Store(destination + (m + 8) * destinationStride);
            Avx512F.Shuffle4x128(high01, high23, 0x88).Store(destination + (m + 4) * destinationStride);
            Avx512F.Shuffle4x128(high01, high23, 0xDD).Store(destination + (m + 12) * destinationStride);
        }
    }
}
