using RingAttention.Layouts;

namespace RingAttention.Planning;

/// <summary>
/// Predicts a pass from the real ring schedule (<see cref="StepWork"/>): each rank's compute per step is its visible
/// pairs × FLOPs per pair ÷ the kernel's FLOP/s for that call (masked or not, its size); each step's exchange (posted
/// before the compute, awaited after it) costs latency + bytes ÷ bandwidth; a step takes the longest of any rank's
/// compute and exchange, and the pass the sum of its steps. The ideal is one device running the whole problem.
/// </summary>
public sealed class CostModel(DeviceSpec device, LinkSpec link)
{
    /// <summary>The device every rank runs on.</summary>
    public DeviceSpec Device { get; } = device;

    /// <summary>The link between neighbouring ranks.</summary>
    public LinkSpec Link { get; } = link;

    /// <summary>Predicts one pass of <paramref name="layout"/> over <paramref name="ranks"/> ranks (optionally with a causal sliding window).</summary>
    public PassPrediction Predict(AttentionOptions options, int sequenceLength, LayoutKind layout, int ranks, PassDirection direction, int? window = null)
    {
        options.Validate();
        var work = StepWork.Derive(SequenceLayouts.Create(layout, sequenceLength, ranks), options.Causal, window);
        var single = StepWork.Derive(SequenceLayouts.Create(LayoutKind.Contiguous, sequenceLength, 1), options.Causal, window);
        double ideal = Compute(options, single.At(0, 0), direction);
        return Predict(options, work, direction, ideal);
    }

    /// <summary>Predicts one pass of the schedule <paramref name="work"/> against a given ideal time.</summary>
    public PassPrediction Predict(AttentionOptions options, StepWork work, PassDirection direction, double idealSeconds)
    {
        double bytesPerKvRow = (double)options.Batch * options.KeyRowElements * 2 * direction.BytesPerKvElement(options.ElementType);
        var steps = new StepPrediction[work.Steps];
        for (int step = 0; step < work.Steps; step++)
        {
            double maxCompute = 0, minCompute = double.MaxValue, maxTransfer = 0, stepSeconds = 0;
            foreach (var rank in work.Step(step))
            {
                double compute = Compute(options, rank, direction);
                double transfer = Link.TransferSeconds(rank.IncomingKvRows * bytesPerKvRow);
                (maxCompute, minCompute, maxTransfer) = (Math.Max(maxCompute, compute), Math.Min(minCompute, compute), Math.Max(maxTransfer, transfer));
                stepSeconds = Math.Max(stepSeconds, Math.Max(compute, transfer));
            }
            steps[step] = new StepPrediction(step, maxCompute, minCompute, maxTransfer, stepSeconds);
        }
        double flops = work.TotalPairs * (double)options.Batch * options.Heads * direction.FlopsPerPair(options.HeadDim);
        return new PassPrediction(work.Layout.Name, work.Layout.Ranks, direction, steps, idealSeconds, flops);
    }

    /// <summary>Seconds one rank's step computes: unmasked and masked pairs at the kernel's FLOP/s for each.</summary>
    public double Compute(AttentionOptions options, RankStepWork work, PassDirection direction)
    {
        double flopsPerPair = (double)options.Batch * options.Heads * direction.FlopsPerPair(options.HeadDim);
        var throughput = Device.Throughput;
        double seconds = 0;
        if (work.UnmaskedPairs > 0)
        {
            seconds += work.UnmaskedPairs * flopsPerPair / throughput.FlopsPerSecond(options.ElementType, options.HeadDim, false, work.QueryRows, direction);
        }
        if (work.MaskedPairs > 0)
        {
            seconds += work.MaskedPairs * flopsPerPair / throughput.FlopsPerSecond(options.ElementType, options.HeadDim, true, work.QueryRows, direction);
        }
        return seconds;
    }
}
