using System.Diagnostics;
using RingAttention.Ring;

namespace RingAttention.Cli;

/// <summary>
/// The steady state of a run (<c>--repeats</c>): forward passes after the first over the same inputs, ranks and
/// workspace, timed one by one (each the slowest process's wall time, as the first pass is). The first pass pays for
/// what a process does once (JIT compilation, page faults on fresh buffers, thread start-up); these do not.
/// </summary>
/// <param name="Warmup">Untimed passes run between the first and the timed ones.</param>
/// <param name="Passes">Timed passes.</param>
/// <param name="BestSeconds">The fastest timed pass.</param>
/// <param name="MedianSeconds">The median timed pass (the mean of the middle two for an even count).</param>
/// <param name="BestTflops">Forward TFLOP/s of the fastest pass.</param>
/// <param name="MedianTflops">Forward TFLOP/s of the median pass.</param>
internal sealed record SteadyState(int Warmup, int Passes, double BestSeconds, double MedianSeconds, double BestTflops, double MedianTflops)
{
    /// <summary>
    /// Runs <see cref="RunOptions.Warmup"/> untimed and <see cref="RunOptions.Repeats"/> timed passes over
    /// <paramref name="ranks"/> (every process of the job runs the same count); returns the last pass's reports and the
    /// figures, or null figures when no repeats were asked for.
    /// </summary>
    public static (RankReport[]? LastReports, SteadyState? Figures) Measure(RunOptions run, IJobHost host, RingRank[] ranks, double forwardFlops)
    {
        if (run.Repeats == 0)
        {
            return (null, null);
        }
        RankReport[] reports = [];
        for (int pass = 0; pass < run.Warmup; pass++)
        {
            reports = RingDriver.Forward(ranks);
        }
        var seconds = new double[run.Repeats];
        for (int pass = 0; pass < run.Repeats; pass++)
        {
            long start = Stopwatch.GetTimestamp();
            reports = RingDriver.Forward(ranks);
            seconds[pass] = host.MaxOverProcesses(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        Array.Sort(seconds);
        int middle = seconds.Length / 2;
        double median = seconds.Length % 2 == 1 ? seconds[middle] : (seconds[middle - 1] + seconds[middle]) / 2;
        return (reports, new SteadyState(run.Warmup, run.Repeats, seconds[0], median, forwardFlops / seconds[0] / 1e12, forwardFlops / median / 1e12));
    }
}
