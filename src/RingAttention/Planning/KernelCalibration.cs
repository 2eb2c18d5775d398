using RingAttention.Inputs;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Planning;

/// <summary>
/// Measures the kernel's FLOP/s at given block sizes, masked and not, on a backend: each is a one-rank ring pass of
/// N = block rows (one kernel call per pass, a diagonal block when masked), timed by the rank's own compute figure.
/// The backward is measured the same way: one forward, then best-of-repeats one-rank backward passes (dO from the
/// counter-based source), at 2.5 × the forward's FLOPs (<see cref="PassDirections.BackwardFlopFactor"/>).
/// </summary>
public static class KernelCalibration
{
    /// <summary>Best-of-<paramref name="repeats"/> measurements for every block size, masked and unmasked, of one pass direction.</summary>
    public static List<KernelMeasurement> Measure(AttentionOptions options, IEnumerable<int> blockRows, IAttentionBackend backend, int repeats,
        PassDirection direction = PassDirection.Forward)
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
                double best = direction == PassDirection.Forward
                    ? Enumerable.Range(0, repeats).Min(_ => ring.Forward()[0].ComputeSeconds)
                    : BestBackward(ring, call, rows, backend, repeats);
                double flops = call.ForwardFlops(rows) * (direction == PassDirection.Backward ? PassDirections.BackwardFlopFactor : 1.0);
                measurements.Add(new KernelMeasurement(options.ElementType, options.HeadDim, masked, rows, flops / best, direction));
            }
        }
        return measurements;
    }

    /// <summary>The fastest of <paramref name="repeats"/> one-rank backward passes' compute, after one forward (its O and LSE).</summary>
    private static double BestBackward(EmulatedRing ring, AttentionOptions call, int rows, IAttentionBackend backend, int repeats)
    {
        ring.Forward();
        using var gradients = RankGradients.Allocate(backend, call, rows);
        ShardLoader.LoadOutputGradient(new CounterRandomSource(11, call, rows), call, ring.Layout, 0, backend, gradients.DO);
        return Enumerable.Range(0, repeats).Min(_ => ring.Backward([gradients])[0].ComputeSeconds);
    }
}
