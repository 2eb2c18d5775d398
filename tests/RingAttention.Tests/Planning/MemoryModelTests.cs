using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Planning;
using RingAttention.Ring;

namespace RingAttention.Tests.Planning;

/// <summary>Memory per rank and the smallest P that fits, against hand computations and the runtime's own allocations.</summary>
public sealed class MemoryModelTests
{
    // The problem: N = 2^20, H = 64, Hkv = 8, D = 128, bf16 (2 bytes), B = 1.
    private static readonly AttentionOptions Llama = new() { Heads = 64, KvHeads = 8, HeadDim = 128, Causal = true, ElementType = ElementType.BFloat16 };

    [Fact]
    public void ForwardBackwardAndDecodeMemoryMatchTheHandComputation()
    {
        // P = 8, zigzag: 16 chunks of 65536 rows, every rank holds 2 chunks = 131072 rows.
        // Per row, forward: Q 64·128·2 = 16384, O 16384, K 8·128·2 = 2048, V 2048, LSE 64·4 = 256,
        //   two receive buffers of K+V: 2·2·2048 = 8192, fp32 accumulator 64·128·4 = 32768, row max + row sum 2·256 = 512
        //   → 78592 bytes; × 131072 rows = 10,301,210,624 bytes.
        // Per row, forward+backward (the backward's peak): Q, O, dO, dQ 4·16384 = 65536; K, V, dK, dV 4·2048 = 8192;
        //   LSE and D 2·256 = 512; fp32 dQ accumulator 32768; K/V receive 8192; travelling fp32 dK/dV, two of them:
        //   2·2·(8·128·4) = 16384 → 131584 bytes; × 131072 = 17,246,978,048 bytes.
        // Decode K/V cache: K + V = 2·2048 = 4096 bytes per row; × 131072 = 536,870,912 bytes.
        var memory = MemoryModel.PerRank(Llama, 1 << 20, LayoutKind.Zigzag, 8);
        Assert.Equal(131072, memory.RowsPerRank);
        Assert.Equal(10_301_210_624, memory.ForwardBytes);
        Assert.Equal(17_246_978_048, memory.ForwardBackwardBytes);
        Assert.Equal(536_870_912, memory.DecodeCacheBytes);
    }

    [Fact]
    public void OneRankHoldsNoReceiveBuffersAndOneGradientAccumulator()
    {
        // P = 1, N = 1000, fp32 (4 bytes), H = Hkv = 1, D = 64, no separate accumulator (fp32 O is the accumulator).
        // Forward per row: Q, O, K, V 4·256 = 1024, LSE 4, max + sum 8 → 1036; × 1000 = 1,036,000.
        // Backward per row: Q, O, dO, dQ, K, V, dK, dV 8·256 = 2048; LSE, D 8; dQ accumulator 256; no receive;
        //   one fp32 dK/dV accumulator 2·256 = 512 → 2824; × 1000 = 2,824,000.
        var options = new AttentionOptions { Heads = 1, HeadDim = 64 };
        var memory = MemoryModel.PerRank(options, 1000, LayoutKind.Contiguous, 1);
        Assert.Equal(1_036_000, memory.ForwardBytes);
        Assert.Equal(2_824_000, memory.ForwardBackwardBytes);
    }

    [Theory]
    [InlineData(ElementType.Float32)]
    [InlineData(ElementType.BFloat16)]
    [InlineData(ElementType.Float16)]
    public void ForwardMemoryEqualsWhatTheRuntimeAllocates(ElementType type)
    {
        var options = new AttentionOptions { Heads = 4, KvHeads = 2, HeadDim = 16, Causal = true, ElementType = type, Batch = 2 };
        var layout = SequenceLayouts.Create(LayoutKind.Zigzag, 1001, 3);
        using var backend = new CpuBackend(1);
        using var ring = new EmulatedRing(options, layout, backend);
        var source = new CounterRandomSource(1, options, layout.SequenceLength);
        foreach (var rank in ring.Ranks)
        {
            ShardLoader.Load(source, options, layout, rank.Rank, backend, rank.Tensors);
        }
        var reports = ring.Forward();
        Assert.Equal(reports.Max(r => r.BytesHeld), MemoryModel.PerRank(options, 1001, LayoutKind.Zigzag, 3).ForwardBytes);
    }

    [Fact]
    public void SmallestFittingRanksMatchesTheHandComputation()
    {
        // Forward, budget 20e9 bytes, 78592 bytes per row (above). Zigzag P = 4: 262144 rows → 20,602,421,248 > 20e9.
        // P = 5: 10 chunks, 1048576 = 10·104857 + 6, so chunks 0..5 have 104858 rows; rank 4 holds chunks 4 and 5 =
        // 209716 rows (the most) → 209716·78592 = 16,481,999,872 ≤ 20e9: P = 5.
        Assert.Equal(209716L * 78592, MemoryModel.PerRank(Llama, 1 << 20, LayoutKind.Zigzag, 5).ForwardBytes);
        Assert.Equal(5, MemoryModel.SmallestFittingRanks(Llama, 1 << 20, LayoutKind.Zigzag, PassDirection.Forward, 20e9));

        // Forward+backward on an H100 budget 0.9·80e9 = 72e9. P = 1: 131584 − 8192 (no receive) − 8192 (one dK/dV, not
        // two) = 115200 bytes per row × 1048576 = 120.8e9 > 72e9. P = 2: 524288 rows × 131584 = 68,987,912,192 ≤ 72e9.
        Assert.Equal(2, MemoryModel.SmallestFittingRanks(Llama, 1 << 20, LayoutKind.Zigzag, PassDirection.Backward, 72e9));

        // Nothing fits a budget smaller than one row's bytes.
        Assert.Null(MemoryModel.SmallestFittingRanks(Llama, 1000, LayoutKind.Zigzag, PassDirection.Forward, 1000));
    }
}
