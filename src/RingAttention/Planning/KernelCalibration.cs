using RingAttention.Inputs;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Planning;

/// <summary>
/// Measures the kernel's FLOP/s at given block sizes, masked and not, on a backend: each is a one-rank ring pass of
/// N = block rows (one kernel call per pass, a diagonal block when masked), timed by the rank's own compute figure.
/// </summary>
public static class KernelCalibration
{
    /// <summary>Best-of-<paramref name="repeats"/> measurements for every block size, masked and unmasked.</summary>
    public static List<KernelMeasurement> Measure(AttentionOptions options, IEnumerable<int> blockRows, IAttentionBackend backend, int repeats)
    {
        Guard.AtLeast(repeats, 1);
        var measurements = new List<KernelMeasurement>();
        foreach (int rows in blockRows.Distinct().Order())
        {
            foreach (bool masked in new[] { false, true })
            {
                var call = new AttentionOptions
                {
                    Batch = options.Batch, Heads = options.Heads, KvHeads = options.KvHeads, HeadDim = options.HeadDim,
                    ElementType = options.ElementType, Causal = masked,
                };
                var layout = SequenceLayouts.Create(LayoutKind.Contiguous, rows, 1);
                using var ring = new EmulatedRing(call, layout, backend);
                ShardLoader.Load(new CounterRandomSource(7, call, rows), call, layout, 0, backend, ring.Ranks[0].Tensors);
                double best = Enumerable.Range(0, repeats).Min(_ => ring.Forward()[0].ComputeSeconds);
                measurements.Add(new KernelMeasurement(options.ElementType, options.HeadDim, masked, rows, call.ForwardFlops(rows) / best));
            }
        }
        return measurements;
    }
}
