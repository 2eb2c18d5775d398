using System.Text;
using RingAttention.Cuda.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// The tensor-core kernel's index algebra, checked without a GPU: NVRTC folds the kernel's own constexpr functions
/// (kernels/fragments.cuh, kernels/block_info.cuh) into a device variable's initializer, and the values read back from
/// the PTX are checked against the PTX ISA's ldmatrix and mma.m16n8k16 fragment layouts (modelled here) and against
/// the CPU's visibility rule. A wrong lane, swizzle, matrix order or register order fails here instead of silently
/// producing wrong attention on a GPU nobody has run it on.
/// </summary>
public sealed class KernelIndexingTests
{
    [SkippableFact]
    public void OperandFragmentsHoldTheElementsTheMmaExpectsForEveryTileShape()
    {
        Requirements.Nvrtc();
        var tensorCore = DeviceLimits.Targeted.SelectMany(KernelVariant.All).Where(v => v.Kind == KernelKind.TensorCore).ToArray();
        var shapes = tensorCore.Select(v => new TileGeometry(v.HeadDim, v.Tiles.BlockM, v.Tiles.BlockN, v.Tiles.Warps)).Distinct().ToArray();
        Assert.True(shapes.Length >= 4);
        foreach (var shape in shapes)
        {
            var variant = tensorCore.First(v => new TileGeometry(v.HeadDim, v.Tiles.BlockM, v.Tiles.BlockN, v.Tiles.Warps) == shape);
            var facts = new FactReader(Fold(variant, FragmentFactsSource, "ra_fragment_facts"));
            CheckFragments(shape, facts);
        }
    }

    [SkippableFact]
    public void VisibleKeysFollowTheCpuRuleUpToTheEdgesOf32BitPositions()
    {
        Requirements.Nvrtc();
        // (SeqLenK, QPosStart, QPosStride, KPosStart, KPosStride, query row): ordinary ring layouts, strides that do
        // not divide, keys entirely before or after, and positions whose differences leave 32 bits.
        (int SeqK, int QStart, int QStride, int KStart, int KStride, int Row)[] cases =
        [
            (64, 0, 1, 0, 1, 0), (64, 0, 1, 0, 1, 63), (64, 10, 1, 0, 1, 5), (64, 0, 1, 10, 1, 9), (64, 0, 1, 10, 1, 10),
            (64, 3, 4, 1, 4, 7), (64, 3, 4, 4, 4, 7), (64, 0, 3, 1, 2, 20), (5, 100, 1, 0, 1, 0), (64, 0, 1, 100, 1, 3),
            (64, -7, 3, -20, 5, 2), (64, -7, 3, -4, 5, 0), (64, 200, 2, 10, 4, 30),
            (10, int.MaxValue, 1, 0, 1, 0), (10, int.MaxValue - 4, 2, 0, 1, 2), (1 << 20, int.MaxValue, 1, 0, 1 << 11, 0),
            (10, 1_200_000_000, 1, -1_000_000_000, 1, 0), (10, -1_070_000_000, 1, 1_100_000_000, 1, 0),
            (1_000_000, int.MaxValue - 100, 1, int.MaxValue - 1_000_100, 1, 50), (100, 0, 1, int.MinValue / 2, 1 << 20, 0),
        ];
        var calls = cases.Select(c => $"visible_keys(call({c.SeqK}, {c.QStart}, {c.QStride}, {c.KStart}, {c.KStride}), {c.Row}, true)")
            .Append("visible_keys(call(37, 0, 1, 1000, 1), 0, false)");
        string source = "#include \"block_info.cuh\"\n" +
                        "__host__ __device__ constexpr FlashFwdParams call(int seq_k, int q_start, int q_stride, int k_start, int k_stride) {\n" +
                        "    FlashFwdParams p{};\n    p.SeqLenK = seq_k; p.QPosStart = q_start; p.QPosStride = q_stride;\n" +
                        "    p.KPosStart = k_start; p.KPosStride = k_stride;\n    return p;\n}\n" +
                        "struct Facts { int values[" + (cases.Length + 1) + "]; };\n" +
                        "extern \"C\" __device__ const Facts ra_visible_facts = {{\n    " + string.Join(",\n    ", calls) + "\n}};\n";
        var values = PtxInitializer.Int32s(Compile(source, []), "ra_visible_facts");

        for (int i = 0; i < cases.Length; i++)
        {
            var c = cases[i];
            long query = c.QStart + (long)c.Row * c.QStride;
            long distance = query - c.KStart;
            long lastVisible = distance >= 0 ? distance / c.KStride : -((-distance + c.KStride - 1) / c.KStride);
            long expected = Math.Clamp(lastVisible + 1, 0, c.SeqK);
            Assert.True(expected == values[i], $"case {c}: kernel sees {values[i]} keys, the CPU rule {expected}");
        }
        Assert.Equal(37, values[^1]);
    }

    /// <summary>The facts fragments.cuh yields for one tile shape, in the order <see cref="CheckFragments"/> reads them.</summary>
    private const string FragmentFactsSource = """
        #include "fragments.cuh"
        using namespace fragments;
        constexpr int kTileRows = Traits::kBlockM > Traits::kBlockN ? Traits::kBlockM : Traits::kBlockN;
        constexpr int kCount = kTileRows * Traits::kChunksPerRow + Traits::kWarps * Traits::kMTiles * Traits::kKSteps * 32 +
                               Traits::kNBlocks / 2 * Traits::kKSteps * 32 + Traits::kKeySteps * Traits::kDBlocks / 2 * 32 +
                               32 * 4 * 2 + Traits::kKeySteps * 4 * 2;
        struct Facts { unsigned values[kCount]; };
        __host__ __device__ constexpr Facts collect() {
            Facts f{};
            int x = 0;
            for (int row = 0; row < kTileRows; ++row)
                for (int chunk = 0; chunk < Traits::kChunksPerRow; ++chunk) f.values[x++] = tile_chunk_offset(row, chunk);
            for (int warp = 0; warp < Traits::kWarps; ++warp)
                for (int m_tile = 0; m_tile < Traits::kMTiles; ++m_tile)
                    for (int k_step = 0; k_step < Traits::kKSteps; ++k_step)
                        for (int lane = 0; lane < 32; ++lane) f.values[x++] = q_fragment_address(q_fragment_row(lane, warp), lane, m_tile, k_step);
            for (int n_block = 0; n_block < Traits::kNBlocks; n_block += 2)
                for (int k_step = 0; k_step < Traits::kKSteps; ++k_step)
                    for (int lane = 0; lane < 32; ++lane) f.values[x++] = k_fragment_address(k_fragment_row(lane), lane, n_block, k_step);
            for (int key_step = 0; key_step < Traits::kKeySteps; ++key_step)
                for (int d_block = 0; d_block < Traits::kDBlocks; d_block += 2)
                    for (int lane = 0; lane < 32; ++lane) f.values[x++] = v_fragment_address(v_fragment_row(lane), lane, key_step, d_block);
            for (int lane = 0; lane < 32; ++lane)
                for (int element = 0; element < 4; ++element) {
                    f.values[x++] = accumulator_row(lane, element);
                    f.values[x++] = accumulator_column(lane, element);
                }
            for (int key_step = 0; key_step < Traits::kKeySteps; ++key_step)
                for (int reg = 0; reg < 4; ++reg) {
                    f.values[x++] = probability_block(key_step, reg);
                    f.values[x++] = probability_element(reg);
                }
            return f;
        }
        extern "C" __device__ const Facts ra_fragment_facts = collect();
        """;

    private static void CheckFragments(TileGeometry shape, FactReader facts)
    {
        string name = shape.ToString();
        int tileRows = Math.Max(shape.BlockM, shape.BlockN);

        // cp.async destinations: every (row, chunk) of a tile has its own 16-byte slot inside its own row.
        var slotOf = new Dictionary<int, (int Row, int Chunk)>();
        for (int row = 0; row < tileRows; row++)
        {
            for (int chunk = 0; chunk < shape.ChunksPerRow; chunk++)
            {
                int offset = facts.Next();
                Assert.True(offset % 16 == 0 && offset / shape.RowBytes == row, $"{name}: chunk {chunk} of row {row} is written at byte {offset}, outside its row");
                Assert.True(slotOf.TryAdd(offset, (row, chunk)), $"{name}: chunk {chunk} of row {row} overwrites {slotOf.GetValueOrDefault(offset)}");
            }
        }

        // Q: A operand of m-tile i (rows warp·MTiles·16 + 16i ...) and k-step kk (head dims 16kk ...).
        for (int warp = 0; warp < shape.Warps; warp++)
        {
            for (int i = 0; i < shape.MTiles; i++)
            {
                for (int kk = 0; kk < shape.KSteps; kk++)
                {
                    var addresses = facts.Take(32);
                    var loaded = Ldmatrix(addresses, transposed: false, slotOf, shape.BlockM, $"{name} Q warp {warp} m-tile {i} k-step {kk}");
                    for (int lane = 0; lane < 32; lane++)
                    {
                        for (int reg = 0; reg < 4; reg++)
                        {
                            for (int half = 0; half < 2; half++)
                            {
                                var (row, column) = Mma.A(lane, reg, half);
                                var expected = (warp * shape.MTiles * 16 + i * 16 + row, kk * 16 + column);
                                Assert.True(loaded[lane, reg, half] == expected, $"{name} Q warp {warp} m-tile {i} k-step {kk}: lane {lane} a{reg}.{half} holds Q{loaded[lane, reg, half]}, mma expects Q{expected}");
                            }
                        }
                    }
                }
            }
        }

        // K: B operands of n-blocks n (registers 0, 1) and n + 1 (registers 2, 3), k-step kk; K is [key][head dim].
        for (int n = 0; n < shape.NBlocks; n += 2)
        {
            for (int kk = 0; kk < shape.KSteps; kk++)
            {
                var loaded = Ldmatrix(facts.Take(32), transposed: false, slotOf, shape.BlockN, $"{name} K n-block {n} k-step {kk}");
                for (int lane = 0; lane < 32; lane++)
                {
                    for (int reg = 0; reg < 4; reg++)
                    {
                        for (int half = 0; half < 2; half++)
                        {
                            var (k, column) = Mma.B(lane, reg & 1, half);
                            var expected = ((n + reg / 2) * 8 + column, kk * 16 + k);
                            Assert.True(loaded[lane, reg, half] == expected, $"{name} K n-block {n} k-step {kk}: lane {lane} b{reg}.{half} holds K{loaded[lane, reg, half]}, mma expects K{expected}");
                        }
                    }
                }
            }
        }

        // V (.trans): B operands of d-blocks d (registers 0, 1) and d + 1 (registers 2, 3), key step ks; V is [key][head dim].
        for (int ks = 0; ks < shape.KeySteps; ks++)
        {
            for (int d = 0; d < shape.DBlocks; d += 2)
            {
                var loaded = Ldmatrix(facts.Take(32), transposed: true, slotOf, shape.BlockN, $"{name} V key step {ks} d-block {d}");
                for (int lane = 0; lane < 32; lane++)
                {
                    for (int reg = 0; reg < 4; reg++)
                    {
                        for (int half = 0; half < 2; half++)
                        {
                            var (k, column) = Mma.B(lane, reg & 1, half);
                            var expected = (ks * 16 + k, (d + reg / 2) * 8 + column);
                            Assert.True(loaded[lane, reg, half] == expected, $"{name} V key step {ks} d-block {d}: lane {lane} b{reg}.{half} holds V{loaded[lane, reg, half]}, mma expects V{expected}");
                        }
                    }
                }
            }
        }

        // Accumulators: the rows and columns the mask, the softmax and the O/statistics stores assume.
        var accumulator = new (int Row, int Column)[32, 4];
        for (int lane = 0; lane < 32; lane++)
        {
            for (int e = 0; e < 4; e++)
            {
                accumulator[lane, e] = (facts.Next(), facts.Next());
                Assert.True(accumulator[lane, e] == Mma.C(lane, e), $"{name}: lane {lane} c{e} is taken for {accumulator[lane, e]}, mma writes {Mma.C(lane, e)}");
            }
        }

        // P·V: A-fragment element (row, key) of key step ks must be the probability of that row and key.
        for (int ks = 0; ks < shape.KeySteps; ks++)
        {
            for (int reg = 0; reg < 4; reg++)
            {
                int block = facts.Next(), element = facts.Next();
                for (int lane = 0; lane < 32; lane++)
                {
                    for (int half = 0; half < 2; half++)
                    {
                        var (row, key) = Mma.A(lane, reg, half);
                        var source = accumulator[lane, element + half];
                        Assert.True((source.Row, block * 8 + source.Column) == (row, ks * 16 + key),
                            $"{name} P·V key step {ks}: lane {lane} a{reg}.{half} packs P({source.Row}, {block * 8 + source.Column}), mma expects P({row}, {ks * 16 + key})");
                    }
                }
            }
        }
        Assert.True(facts.AtEnd, $"{name}: {facts.Remaining} facts left unread");
    }

    /// <summary>
    /// ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16 (PTX ISA): lane 8m + j gives the address of row j of matrix m
    /// (16 bytes, 8 elements); without .trans lane L receives elements 2(L % 4) and 2(L % 4) + 1 of row L / 4 of matrix m
    /// in register m (lower half first); with .trans it receives element L / 4 of rows 2(L % 4) and 2(L % 4) + 1.
    /// Returns the (tile row, element column) each lane's register halves hold, after checking that every address
    /// is a chunk of the tile and that each matrix's 8 rows fall in 8 different bank groups (no conflicts).
    /// </summary>
    private static (int Row, int Column)[,,] Ldmatrix(int[] addresses, bool transposed, Dictionary<int, (int Row, int Chunk)> slotOf, int tileRows, string what)
    {
        for (int matrix = 0; matrix < 4; matrix++)
        {
            var bankGroups = addresses.Skip(8 * matrix).Take(8).Select(a => a / 16 % 8).Distinct().Count();
            Assert.True(bankGroups == 8, $"{what}: matrix {matrix}'s rows share bank groups ({bankGroups} distinct)");
        }
        var result = new (int Row, int Column)[32, 4, 2];
        for (int lane = 0; lane < 32; lane++)
        {
            for (int matrix = 0; matrix < 4; matrix++)
            {
                for (int half = 0; half < 2; half++)
                {
                    var (addressLane, element) = transposed ? (8 * matrix + 2 * (lane % 4) + half, lane / 4) : (8 * matrix + lane / 4, 2 * (lane % 4) + half);
                    int address = addresses[addressLane];
                    Assert.True(slotOf.TryGetValue(address, out var slot) && slot.Row < tileRows, $"{what}: lane {addressLane} reads byte {address}, not a chunk of the {tileRows}-row tile");
                    result[lane, matrix, half] = (slot.Row, slot.Chunk * 8 + element);
                }
            }
        }
        return result;
    }

    /// <summary>mma.sync.aligned.m16n8k16 fragment layouts for .f16/.bf16 inputs and .f32 accumulators (PTX ISA); g = lane / 4, t = lane % 4.</summary>
    private static class Mma
    {
        /// <summary>A (16×16, row major): register r, half h is (row g + 8·(r % 2), column 2t + 8·(r / 2) + h).</summary>
        public static (int Row, int Column) A(int lane, int reg, int half) => (lane / 4 + 8 * (reg % 2), 2 * (lane % 4) + 8 * (reg / 2) + half);

        /// <summary>B (16×8, column major): register r, half h is (k 2t + 8r + h, column g).</summary>
        public static (int K, int Column) B(int lane, int reg, int half) => (2 * (lane % 4) + 8 * reg + half, lane / 4);

        /// <summary>C/D (16×8, fp32): element e is (row g + 8·(e / 2), column 2t + e % 2).</summary>
        public static (int Row, int Column) C(int lane, int element) => (lane / 4 + 8 * (element / 2), 2 * (lane % 4) + element % 2);
    }

    /// <summary>Compiles <paramref name="source"/> (with the variant's defines) to PTX and returns the named initializer's values.</summary>
    private static int[] Fold(KernelVariant variant, string source, string name) =>
        PtxInitializer.Int32s(Compile(source, variant.Defines.Select(d => $"-D{d.Name}={d.Value}")), name);

    private static string Compile(string source, IEnumerable<string> defines)
    {
        using var program = new CudaRuntimeCompiler(source, "indexing_check.cu", KernelSources.Headers);
        program.Compile(["-std=c++17", "-arch=compute_80", .. defines]);
        return Encoding.UTF8.GetString(program.GetPTX());
    }

    private readonly record struct TileGeometry(int HeadDim, int BlockM, int BlockN, int Warps)
    {
        public int MTiles => BlockM / (16 * Warps);
        public int NBlocks => BlockN / 8;
        public int DBlocks => HeadDim / 8;
        public int KSteps => HeadDim / 16;
        public int KeySteps => BlockN / 16;
        public int ChunksPerRow => HeadDim / 8;
        public int RowBytes => HeadDim * 2;

        public override string ToString() => $"d{HeadDim} {BlockM}x{BlockN}w{Warps}";
    }

    private sealed class FactReader(int[] values)
    {
        private int _next;

        public bool AtEnd => _next == values.Length;

        public int Remaining => values.Length - _next;

        public int Next()
        {
            Assert.True(_next < values.Length, "fewer facts than the checks read");
            return values[_next++];
        }

        public int[] Take(int count) => Enumerable.Range(0, count).Select(_ => Next()).ToArray();
    }
}
