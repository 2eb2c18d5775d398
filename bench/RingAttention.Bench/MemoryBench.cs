using RingAttention.Cpu;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Bench;

/// <summary>
/// Memory one rank holds for a pass against N at fixed P: the rank's RankReport.BytesHeld (its Q, K, V, O, LSE
/// shards, the two K/V receive buffers and the fp32 running state) after a Start/Finish on a real RingRank, plus
/// the kernel's K/V panels for the largest block it is handed (per device; the formula the kernel allocates by).
/// </summary>
internal static class MemoryBench
{
    public const int Ranks = 8;

    public static IReadOnlyList<int> Lengths(bool quick) => quick ? [16384, 65536] : [16384, 65536, 262144, 1048576];

    public static List<MemoryResult> Run(bool quick, Action<MemoryResult> report)
    {
        var results = new List<MemoryResult>();
        using var backend = new CpuBackend();
        foreach (var type in new[] { ElementType.Float32, ElementType.BFloat16 })
        {
            foreach (int n in Lengths(quick))
            {
                var options = new AttentionOptions { Heads = 1, HeadDim = 64, Causal = true, ElementType = type };
                var layout = SequenceLayouts.Create(LayoutKind.Zigzag, n, Ranks);
                var transports = InProcessRing.Create(Ranks);
                int local = layout.LocalLength(0);
                using var tensors = RankTensors.Allocate(backend, options, local);
                using var rank = new RingRank(options, layout, transports[0], backend, tensors);
                rank.Start();
                var held = rank.Finish().BytesHeld;
                // The largest kernel call a rank makes visits one zigzag chunk of keys: N / 2P.
                int chunk = (n + 2 * Ranks - 1) / (2 * Ranks);
                var (keys, values) = KeyValuePanels.Floats(type, chunk, options.HeadDim, (int)SimdTiers.Best / 32,
                    CpuFlashKernel.PanelWidth(SimdTiers.Best));
                var result = new MemoryResult(n, Ranks, ElementTypes.ShortName(type), options.Heads, options.HeadDim, local,
                    held / 1048576.0, (double)held / local, (keys + values) * sizeof(float) / 1048576.0);
                results.Add(result);
                report(result);
                foreach (var transport in transports)
                {
                    transport.Dispose();
                }
            }
        }
        return results;
    }
}
