using System.Diagnostics;
using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Bench;

/// <summary>
/// One whole problem's backward pass run by P emulated ranks: the shards and dO are loaded from counter-based sources
/// and one untimed forward leaves every rank's O and LSE, which each timed backward reads (dQ, dK, dV are overwritten).
/// </summary>
internal sealed class ScalingBackwardProblem : IDisposable
{
    /// <summary>dO's seed, distinct from the inputs' so dO is not Q again.</summary>
    private const ulong OutputGradSeed = 5;

    private readonly EmulatedRing _ring;
    private readonly RankGradients[] _gradients;

    public ScalingBackwardProblem(AttentionOptions options, int n, LayoutKind layout, int ranks, CpuBackend backend, ulong seed = 3)
    {
        var sequence = SequenceLayouts.Create(layout, n, ranks);
        _ring = new EmulatedRing(options, sequence, backend);
        _gradients = new RankGradients[ranks];
        try
        {
            var source = new CounterRandomSource(seed, options, n);
            var outputGrad = new CounterRandomSource(OutputGradSeed, options, n);
            foreach (var rank in _ring.Ranks)
            {
                ShardLoader.Load(source, options, sequence, rank.Rank, backend, rank.Tensors);
                _gradients[rank.Rank] = RankGradients.Allocate(backend, options, rank.LocalLength);
                ShardLoader.LoadOutputGradient(outputGrad, options, sequence, rank.Rank, backend, _gradients[rank.Rank].DO);
            }
            _ring.Forward();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Times one backward pass (all ranks, all steps): wall seconds and the ranks' reports.</summary>
    public (double Seconds, RankReport[] Reports) Time()
    {
        long start = Stopwatch.GetTimestamp();
        var reports = _ring.Backward(_gradients);
        return (Stopwatch.GetElapsedTime(start).TotalSeconds, reports);
    }

    public void Dispose()
    {
        foreach (var gradient in _gradients)
        {
            gradient?.Dispose();
        }
        _ring.Dispose();
    }
}
