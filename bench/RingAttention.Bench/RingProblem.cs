using System.Diagnostics;
using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Bench;

/// <summary>
/// One whole problem run by P emulated ranks on one backend (P = 1 is the single-rank baseline): every rank's
/// shards are loaded from the same counter-based source, so every P computes exactly the same attention.
/// </summary>
internal sealed class RingProblem : IDisposable
{
    private readonly EmulatedRing _ring;

    public RingProblem(AttentionOptions options, int n, LayoutKind layout, int ranks, CpuBackend backend, ulong seed = 3)
    {
        Options = options;
        N = n;
        Layout = SequenceLayouts.Create(layout, n, ranks);
        _ring = new EmulatedRing(options, Layout, backend);
        var source = new CounterRandomSource(seed, options, n);
        foreach (var rank in _ring.Ranks)
        {
            ShardLoader.Load(source, options, Layout, rank.Rank, backend, rank.Tensors);
        }
    }

    public AttentionOptions Options { get; }

    public int N { get; }

    public ISequenceLayout Layout { get; }

    /// <summary>
    /// Times one forward pass (all ranks, all steps, finalize): wall seconds, the process's CPU seconds over the same
    /// span (close to threads × wall when nothing else competes for the cores), and the ranks' reports.
    /// </summary>
    public (double Seconds, double CpuSeconds, RankReport[] Reports) Time()
    {
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        var reports = _ring.Forward();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (seconds, (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds, reports);
    }

    public void Dispose() => _ring.Dispose();
}
