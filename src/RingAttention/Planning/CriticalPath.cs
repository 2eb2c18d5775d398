using RingAttention.Ring;

namespace RingAttention.Planning;

/// <summary>
/// The time P devices working in parallel would take for a measured pass: Σ over steps of the slowest rank's
/// compute + wait (ranks meet at every exchange). In emulation the ranks run one after another on one device, so
/// this, not the wall time, is the pass time of P devices.
/// </summary>
public static class CriticalPath
{
    /// <summary>Σ_s max_r (compute + wait) and the part of it that is exposed exchange (beyond the slowest compute).</summary>
    public static (double Seconds, double ExposedSeconds) Of(IReadOnlyList<IReadOnlyList<StepTiming>> rankSteps)
    {
        int steps = rankSteps.Max(r => r.Count);
        double total = 0, compute = 0;
        for (int step = 0; step < steps; step++)
        {
            var present = rankSteps.Where(r => step < r.Count).Select(r => r[step]).ToList();
            total += present.Max(s => s.ComputeSeconds + s.WaitSeconds);
            compute += present.Max(s => s.ComputeSeconds);
        }
        return (total, total - compute);
    }
}
